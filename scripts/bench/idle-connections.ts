// Opens N keep-alive HTTP/1.1 connections at once, makes one request on each (so a proxy holds the
// upstream side too), prints "open <n>" and holds them until stdin closes.
//   node idle-connections.ts <host> <port> <n>
import { connect } from 'node:net';

const [host = '127.0.0.1', portText = '80', countText = '1000'] = process.argv.slice(2);
const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
let open = 0;
await Promise.all(
  Array.from({ length: Number(countText) }, () =>
    new Promise<void>((resolve) => {
      const socket = connect({ host, port: Number(portText) }, () => socket.write(request));
      socket.once('data', () => {
        open += 1;
        resolve();
      });
      socket.once('error', () => resolve());
      socket.once('close', () => resolve());
    }),
  ),
);
process.stdout.write(`open ${open}\n`);
process.stdin.resume();
process.stdin.once('end', () => process.exit(0));
