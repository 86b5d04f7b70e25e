// A stand-in agent for crash.test.ts, run as its own process so the test can SIGKILL it: loads and
// attaches the programs, meshes one cgroup, listens in the pod's netns and prints one JSON line per
// event ({"ready":true}, {"captured":tag}) on stdout.
// argv: pinDir podsRoot podCgroup netnsPath redirectPort
import { statSync } from 'node:fs';
import { startInterceptor } from '../../../agent/intercept/index.ts';

const [pinDir = '', podsRoot = '', podCgroup = '', netnsPath = '', port = '4140'] = process.argv.slice(2);
const say = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
};

const interceptor = startInterceptor(
  { bpffs: '/sys/fs/bpf', pinDir, podsRoot, redirectPort: Number(port), heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 },
  { log: () => {} },
);
const factory = interceptor.socketFactoryFor(netnsPath);
await factory.listen({
  address: '127.0.0.1',
  port: Number(port),
  onConnection(socket) {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) say({ captured: text.trim() });
    });
    socket.on('error', () => {});
    socket.on('end', () => socket.end());
  },
});
interceptor.meshPod(statSync(podCgroup, { bigint: true }).ino, { v4: true, v6: false });
say({ ready: true });
// Stays up until killed: the test ends it with SIGKILL, as a crash would.
setInterval(() => {}, 1 << 30);
