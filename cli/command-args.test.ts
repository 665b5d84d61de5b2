import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commandArgs } from './command-args.ts';

const run = (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const r = commandArgs('demo', 'usage: sharedlb demo [--n N]', argv, { n: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h' } }, { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s) });
  return { r, out: out.join(''), err: err.join('') };
};

describe('subcommand flags', () => {
  it('parse into values', () => assert.deepEqual({ ...(run(['--n', '3']).r as object) }, { n: '3' }));
  it('answer --help with the usage and exit 0', () => assert.deepEqual([run(['-h']).r, run(['-h']).out], [0, 'usage: sharedlb demo [--n N]\n']));
  it('refuse an unknown flag or a stray argument with the usage and exit 2, never a throw', () => {
    for (const argv of [['--bogus'], ['extra']]) {
      const { r, err } = run(argv);
      assert.equal(r, 2);
      assert.match(err, /^sharedlb demo: .+\nusage: sharedlb demo/);
    }
  });
});
