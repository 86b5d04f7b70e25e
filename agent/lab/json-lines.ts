// The lab workloads talk JSON lines over stdio: one object a line, easy to read in a test failure.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** Calls `onValue` with each parsed line of `input`, `onBadLine` with lines that are not JSON. */
export function readJsonLines(input: Readable, onValue: (value: unknown) => void, onBadLine: (line: string) => void = () => {}): void {
  const lines = createInterface({ input, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      onBadLine(line);
      return;
    }
    onValue(value);
  });
}
