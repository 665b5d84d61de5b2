// A backend for traffic tests, run inside a pod's network namespace: every
// TCP connection first hears the pod's identity, then gets each line back
// prefixed with it (the line "peer" is answered with the address the
// connection came from); every UDP datagram is answered with the identity.
//   node e2e/echo-server.ts --id NAME --tcp 8080,8081 --udp 5353

import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { id: { type: 'string' }, tcp: { type: 'string', default: '' }, udp: { type: 'string', default: '' } } });
const id = values.id ?? 'unknown';
const ports = (s: string) => s.split(',').filter(Boolean).map(Number);

for (const port of ports(values.tcp)) {
  createServer((c) => {
    c.write(`${id}\n`);
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        c.write(`${id}:${line === 'peer' ? (c.remoteAddress ?? '').replace(/^::ffff:/, '') : line}\n`);
        buf = buf.slice(i + 1);
      }
    });
    c.on('error', () => undefined);
  }).listen(port, '::'); // IPv6 and (mapped) IPv4 both
}
for (const port of ports(values.udp)) {
  const s = createSocket('udp4');
  s.on('message', (_m, from) => s.send(id, from.port, from.address));
  s.bind(port, '0.0.0.0');
}
process.stdout.write(`${id} listening tcp=${values.tcp} udp=${values.udp}\n`);
