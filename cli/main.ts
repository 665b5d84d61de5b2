#!/usr/bin/env node
// The `sharedlb` command (and `kubectl sharedlb`, the same program under the
// name kubectl's plugin convention looks for): subcommands dispatch here.
// A failure is one line on stderr and a non-zero exit; --debug adds the stack.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CliError } from './command-args.ts';
import { planCommand } from './plan-command.ts';

// bin/sharedlb says which name it was run by; kubectl runs plugins by their file name.
const NAME = (process.env.SHAREDLB_NAME ?? basename(process.argv[1] ?? '')).startsWith('kubectl-') ? 'kubectl sharedlb' : 'sharedlb';

const USAGE = `usage: ${NAME} <command> [flags] [--debug]

commands:
  plan        pack Service manifests (or a live cluster's Services) and report what sharing saves
  report      cost and saving of a live cluster's shared LBs
  controller  run the controller against a cluster
  help        show this text

Run "${NAME} <command> --help" for a command's flags. --debug shows a failure's stack trace.`;

// `sharedlb plan … | head` closes the pipe early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

async function main(argv: string[], debug: boolean): Promise<number> {
  const [command, ...rest] = argv;
  const io = {
    stdout: (s: string) => void process.stdout.write(s),
    stderr: (s: string) => void process.stderr.write(s),
    stdin: () => readFileSync(0, 'utf8'),
    debug,
  };
  switch (command) {
    case 'plan':
      return planCommand(rest, io);
    case 'report':
      // Loaded only when asked for: plan from files needs no Kubernetes client.
      return (await import('./report-command.ts')).reportCommand(rest, io);
    case 'controller':
      return (await import('./controller-command.ts')).controllerCommand(rest, io);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      io.stderr(`${NAME}: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
      return 2;
  }
}

const debug = process.argv.includes('--debug');
const command = process.argv[2] ?? '';
try {
  process.exitCode = await main(process.argv.slice(2).filter((a) => a !== '--debug'), debug);
} catch (e) {
  if (debug) process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  process.stderr.write(e instanceof CliError || debug ? `${NAME} ${command}: ${message}\n` : `${NAME} ${command}: ${message} (--debug shows where)\n`);
  process.exitCode = 1;
}
