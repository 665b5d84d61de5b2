// What every `sharedlb` subcommand does with its flags first.

import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** A failure a person fixes from its one line (no stack trace needed). */
export class CliError extends Error {}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: () => string;
  /** --debug: a failure also prints its stack. */
  debug?: boolean;
}

/**
 * A subcommand's flags; or, when there is nothing more to do, its exit code:
 * 0 after --help, 2 after a flag it does not know (said with the usage, never
 * a stack trace).
 */
type Config<O extends ParseArgsOptionsConfig> = { args: string[]; options: O; strict: true; allowPositionals: false };
type Values<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<Config<O>>>['values'];

export function commandArgs<O extends ParseArgsOptionsConfig>(command: string, usage: string, argv: string[], options: O, io: Pick<Io, 'stdout' | 'stderr'>): Values<O> | number {
  let values: Values<O>;
  try {
    values = parseArgs<Config<O>>({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    io.stderr(`sharedlb ${command}: ${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if ((values as { help?: unknown }).help === true) {
    io.stdout(`${usage}\n`);
    return 0;
  }
  return values;
}
