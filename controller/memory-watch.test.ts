import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HYSTERESIS, memoryPressure } from './memory-watch.ts';

const MB = 2 ** 20;

describe('memory pressure', () => {
  it('is none while the live heap and the process leave room', () => {
    assert.equal(memoryPressure({ liveHeapBytes: 150 * MB, heapLimitBytes: 259 * MB, rssBytes: 300 * MB, containerLimitBytes: 512 * MB }), null);
    assert.equal(memoryPressure({ liveHeapBytes: 150 * MB, heapLimitBytes: 259 * MB, rssBytes: 300 * MB, containerLimitBytes: 0 }), null, 'no container limit: only the heap counts');
  });

  it('names the heap when full collections leave it over 80% full', () => {
    const why = memoryPressure({ liveHeapBytes: 220 * MB, heapLimitBytes: 259 * MB, rssBytes: 300 * MB, containerLimitBytes: 512 * MB });
    assert.equal(why, 'the heap holds 220 MB after a full garbage collection, 85% of its 259 MB limit');
  });

  it('ends only well below where it began', () => {
    const hovering = { liveHeapBytes: 200 * MB, heapLimitBytes: 259 * MB, rssBytes: 300 * MB, containerLimitBytes: 512 * MB };
    assert.equal(memoryPressure(hovering), null, 'under 80%: no new episode');
    assert.match(memoryPressure(hovering, HYSTERESIS) ?? '', /77%/, 'but over 70%: an episode under way goes on');
  });

  it("names the container when the process nears its limit, and both when both", () => {
    const why = memoryPressure({ liveHeapBytes: 220 * MB, heapLimitBytes: 259 * MB, rssBytes: 480 * MB, containerLimitBytes: 512 * MB });
    assert.match(why ?? '', /heap holds 220 MB.*, and the process uses 480 MB, 94% of the container's 512 MB limit/);
  });
});
