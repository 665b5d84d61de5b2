// node --test global setup: every e2e file gets a running local cluster.
// A healthy cluster from an earlier run is reused (and left running); one
// started here is stopped when the run ends. A missing Go toolchain or a
// failed build fails the run: nothing is skipped.

import { down, readState, up } from './cluster.ts';

let startedHere = false;

export async function globalSetup(): Promise<void> {
  const before = readState();
  const st = await up();
  startedHere = before === null || before.startedAt !== st.startedAt;
}

export async function globalTeardown(): Promise<void> {
  if (startedHere && process.env.SHAREDLB_KEEP_CLUSTER !== '1') await down();
}
