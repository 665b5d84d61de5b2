// A TCP forwarder in a process of its own, so that a test blocked in a
// synchronous call never stalls what the node sends the API server through it.
//   node e2e/tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT

import { createConnection, createServer } from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2) as [string, string, string, string];
const server = createServer((c) => {
  const up = createConnection(Number(targetPort), targetHost);
  c.pipe(up).pipe(c);
  const close = (): void => {
    c.destroy();
    up.destroy();
  };
  c.on('error', close);
  up.on('error', close);
});
server.listen(Number(listenPort), listenHost, () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
