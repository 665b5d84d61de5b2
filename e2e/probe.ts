// A client for traffic tests, run inside the client namespace.
//   node e2e/probe.ts tcp HOST PORT        prints the first line the server sends
//   node e2e/probe.ts udp HOST PORT        prints the answer to one datagram
//   node e2e/probe.ts session HOST PORT    stays connected: each stdin line is sent, each reply printed
//   node e2e/probe.ts peer HOST PORT       prints "ID:ADDRESS": whom the server saw connect
// Exit 1 with the error on stdout ("error: ...") when nothing answers within 2 s.

import { createSocket } from 'node:dgram';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';

const [mode, host, portText] = process.argv.slice(2);
const port = Number(portText);
const fail = (e: string): never => {
  process.stdout.write(`error: ${e}\n`);
  process.exit(1);
};
const timer = setTimeout(() => fail('timeout'), 2000);

if (mode === 'udp') {
  const s = createSocket('udp4');
  s.on('message', (m) => {
    process.stdout.write(`${m.toString()}\n`);
    process.exit(0);
  });
  s.on('error', (e) => fail(e.message));
  s.send('hello', port, host);
} else if (mode === 'peer') {
  const c = createConnection(port, host as string);
  c.on('error', (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
  let text = '';
  c.on('data', (d) => {
    if (text === '') c.write('peer\n'); // after the greeting
    text += d.toString();
    const lines = text.split('\n');
    if (lines.length > 2) {
      process.stdout.write(`${lines[1]}\n`);
      process.exit(0);
    }
  });
} else {
  const c = createConnection(port, host as string);
  c.on('error', (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
  let first = true;
  c.on('data', (d) => {
    process.stdout.write(d.toString());
    if (first && mode === 'tcp') process.exit(0);
    if (first) {
      first = false;
      clearTimeout(timer);
      createInterface({ input: process.stdin }).on('line', (l) => c.write(`${l}\n`));
    }
  });
}
