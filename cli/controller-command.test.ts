import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { controllerTuning } from './controller-command.ts';

const defaults = {
  'node-port-range': '30000-32767', concurrency: '8', qps: '0', resync: '300', relist: '600',
  'lease-duration': '15', 'renew-deadline': '10', 'retry-period': '2', 'event-series-interval': '60',
};

describe('controller flags', () => {
  it('the shipped defaults are the settings', () => {
    assert.deepEqual(controllerTuning(defaults), {
      nodePortRange: { from: 30000, to: 32767 }, concurrency: 8, qps: 0, resyncSeconds: 300, relistSeconds: 600,
      lease: { durationSeconds: 15, renewDeadlineSeconds: 10, retrySeconds: 2 }, eventSeriesSeconds: 60,
    });
  });
  it('refuses a value that is not a number of the right kind, naming the flag and the value', () => {
    for (const [flag, value] of [['concurrency', 'eight'], ['concurrency', '0'], ['concurrency', '2.5'], ['qps', '-1'], ['qps', ''], ['qps', '1.5'], ['concurrency', ' '], ['resync', '0'], ['relist', 'NaN'], ['event-series-interval', 'Infinity']] as const) {
      const r = controllerTuning({ ...defaults, [flag]: value });
      assert.equal(typeof r, 'string', `${flag}=${value}`);
      assert.ok((r as string).includes(`--${flag} must be`) && (r as string).includes(JSON.stringify(value)), r as string);
    }
  });
  it('takes --qps 0 as no client-side limit, any other whole number as the limit', () => {
    assert.equal((controllerTuning({ ...defaults, qps: '0' }) as { qps: number }).qps, 0);
    assert.equal((controllerTuning({ ...defaults, qps: '50' }) as { qps: number }).qps, 50);
  });
  it('names every bad flag at once', () => {
    const r = controllerTuning({ ...defaults, concurrency: 'x', qps: 'y' }) as string;
    assert.match(r, /--concurrency .*; --qps /);
  });
  it('refuses a node port range that is not FROM-TO within 1-65535, or runs backwards', () => {
    for (const range of ['30000', '32767-30000', '0-100', '30000-70000', 'a-b']) {
      assert.match(controllerTuning({ ...defaults, 'node-port-range': range }) as string, /--node-port-range must be FROM-TO/);
    }
  });
  it('holds leader election timing to client-go\'s rules', () => {
    assert.match(controllerTuning({ ...defaults, 'lease-duration': '10', 'renew-deadline': '10' }) as string, /--lease-duration \(10\) must be longer than --renew-deadline \(10\)/);
    assert.match(controllerTuning({ ...defaults, 'renew-deadline': '2', 'retry-period': '2' }) as string, /--renew-deadline \(2\) must be longer than 1.2 × --retry-period \(2\)/);
    assert.equal(typeof controllerTuning({ ...defaults, 'lease-duration': '4', 'renew-deadline': '3', 'retry-period': '2' }), 'object');
  });
});
