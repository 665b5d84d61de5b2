#!/usr/bin/env node
// The `sharedlb` command: subcommands dispatch here.

import { readFileSync } from 'node:fs';
import { planCommand } from './plan-command.ts';

const USAGE = `usage: sharedlb <command> [flags]

commands:
  controller  run the controller against a cluster
  plan        pack Service manifests offline and report what sharing saves
  report      cost and saving of a live cluster's shared LBs
  help        show this text

Run "sharedlb <command> --help" for a command's flags.`;

// `sharedlb plan … | head` closes the pipe early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = {
    stdout: (s: string) => void process.stdout.write(s),
    stderr: (s: string) => void process.stderr.write(s),
    stdin: () => readFileSync(0, 'utf8'),
  };
  switch (command) {
    case 'plan':
      return planCommand(rest, io);
    case 'report':
      return (await import('./report-command.ts')).reportCommand(rest, io);
    case 'controller':
      // Loaded only here: plan needs no Kubernetes client.
      return (await import('./run.ts')).runController(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.stdout(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      io.stderr(`sharedlb: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
