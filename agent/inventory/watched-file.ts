// Following one local file as it changes. The directory is watched, not the file: editors and
// `mv tmp file` replace the file by rename, which a watch on the old inode never sees, and a
// Kubernetes ConfigMap mount swaps a `..data` symlink so the events name other entries entirely.
// So any event in the directory only schedules a check, and the check decides by stat (inode, size,
// times) and then by content whether anything changed. A low-frequency stat poll backs the watch up
// where inotify is missing or silent (network filesystems, some overlays). Events are debounced so
// a file written in several steps is read once it is whole, with a cap so a busy writer cannot
// starve readers forever.
import type { FSWatcher } from 'node:fs';
import { watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { describeError, WeftError } from '../errors.ts';
import type { Clock } from '../time/clock.ts';
import type { FileArea } from './object-file.ts';

export interface FileWatchParams {
  /** Quiet time after the last event before the file is read. */
  readonly debounceMs: number;
  /** Longest a read waits behind a stream of events. */
  readonly maxDelayMs: number;
  /** Stat poll period: the fallback when directory events do not arrive. */
  readonly pollMs: number;
  /** Larger files are refused (an inventory of a node is kilobytes, not gigabytes). */
  readonly maxBytes: number;
}

export const fileWatchParams: FileWatchParams = { debounceMs: 100, maxDelayMs: 1000, pollMs: 2000, maxBytes: 32 * 1024 * 1024 };

/** What a read found: the text, or why there is none. Delivered only when it differs from the last. */
export type FileRead =
  | { readonly kind: 'content'; readonly text: string }
  | { readonly kind: 'missing'; readonly error: WeftError }
  | { readonly kind: 'error'; readonly error: WeftError };

export interface WatchedFileDeps {
  readonly clock: Clock;
  /** Names the error codes: WEFT_E_<area>_FILE_MISSING etc. */
  readonly area: FileArea;
}

export class WatchedFile {
  readonly path: string;
  readonly #params: FileWatchParams;
  readonly #deps: WatchedFileDeps;
  readonly #onRead: (read: FileRead) => void;
  #watcher: FSWatcher | undefined;
  #cancelDebounce: (() => void) | undefined;
  #firstEventAt: number | undefined;
  #cancelPoll: (() => void) | undefined;
  #checking = false;
  #checkAgain: 'no' | 'check' | 'read' = 'no';
  /** stat identity of what was last read; undefined forces the next check to read. */
  #signature: string | undefined;
  #last: FileRead | undefined;
  #started = false;
  #closed = false;

  constructor(path: string, params: FileWatchParams, deps: WatchedFileDeps, onRead: (read: FileRead) => void) {
    this.path = path;
    this.#params = params;
    this.#deps = deps;
    this.#onRead = onRead;
  }

  /** Reads the file now, then follows it. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#ensureWatch();
    this.#schedulePoll();
    this.#check(true);
  }

  /** Reads the file again even if its stat looks unchanged (an operator's explicit reload). */
  refresh(): void {
    if (!this.#started || this.#closed) return;
    this.#check(true);
  }

  close(): void {
    this.#closed = true;
    this.#cancelDebounce?.();
    this.#cancelPoll?.();
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #ensureWatch(): void {
    if (this.#watcher !== undefined || this.#closed) return;
    const name = basename(this.path);
    try {
      // Not persistent: following a file is never a reason for the process to stay alive.
      const watcher = watch(dirname(this.path), { persistent: false }, (_event, filename) => {
        // ConfigMap mounts change `..data`, not our name, so only events naming another plain file are
        // skipped; anything else (our name, a dotted entry, no name at all) schedules a check.
        if (filename !== null && filename !== name && !filename.startsWith('..')) return;
        this.#onEvent();
      });
      watcher.on('error', () => {
        // The directory went away (or the watch broke): drop it; the poll re-creates it when it can.
        watcher.close();
        if (this.#watcher === watcher) this.#watcher = undefined;
        this.#onEvent();
      });
      this.#watcher = watcher;
    } catch {
      // The directory does not exist yet: the poll keeps trying, and reports the file missing.
      this.#watcher = undefined;
    }
  }

  #onEvent(): void {
    if (this.#closed) return;
    const now = this.#deps.clock.now();
    this.#firstEventAt ??= now;
    this.#cancelDebounce?.();
    const waited = now - this.#firstEventAt;
    const delay = Math.max(0, Math.min(this.#params.debounceMs, this.#params.maxDelayMs - waited));
    this.#cancelDebounce = this.#deps.clock.setTimer(delay, () => {
      this.#cancelDebounce = undefined;
      this.#firstEventAt = undefined;
      this.#check(false);
    });
  }

  #schedulePoll(): void {
    if (this.#closed) return;
    this.#cancelPoll = this.#deps.clock.setTimer(this.#params.pollMs, () => {
      this.#ensureWatch();
      this.#check(false);
      this.#schedulePoll();
    });
  }

  /** One check at a time; a check asked for meanwhile runs right after, so no change is lost. */
  #check(force: boolean): void {
    if (this.#closed) return;
    if (this.#checking) {
      if (force) this.#checkAgain = 'read';
      else if (this.#checkAgain === 'no') this.#checkAgain = 'check';
      return;
    }
    if (force) this.#signature = undefined;
    this.#checking = true;
    void this.#checkOnce()
      .catch((error: unknown) => this.#deliver({ kind: 'error', error: this.#readError(error) }))
      .finally(() => {
        this.#checking = false;
        const again = this.#checkAgain;
        this.#checkAgain = 'no';
        if (again !== 'no' && !this.#closed) this.#check(again === 'read');
      });
  }

  async #checkOnce(): Promise<void> {
    const area = this.#deps.area;
    let signature: string;
    try {
      const info = await stat(this.path, { bigint: true });
      if (!info.isFile()) {
        this.#signature = undefined;
        this.#deliver({ kind: 'error', error: new WeftError(`WEFT_E_${area}_FILE_READ`, `${this.path} is not a regular file`) });
        return;
      }
      if (info.size > BigInt(this.#params.maxBytes)) {
        this.#signature = undefined;
        this.#deliver({
          kind: 'error',
          error: new WeftError(`WEFT_E_${area}_FILE_TOO_LARGE`, `${this.path} is ${info.size} bytes, more than the ${this.#params.maxBytes} allowed; split it or trim it`),
        });
        return;
      }
      signature = `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (error) {
      this.#signature = undefined;
      if (isNotFound(error)) {
        this.#deliver({
          kind: 'missing',
          error: new WeftError(`WEFT_E_${area}_FILE_MISSING`, `${this.path} does not exist; the last good contents stay in use until it is back`, { cause: error }),
        });
        return;
      }
      throw error;
    }
    if (signature === this.#signature) return;
    // The signature is taken before the read: a write in between changes the stat again, so the next
    // check reads once more rather than missing it.
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if (isNotFound(error)) {
        // Replaced or removed between stat and read: look again shortly.
        this.#onEvent();
        return;
      }
      throw error;
    }
    if (this.#closed) return;
    this.#signature = signature;
    this.#deliver({ kind: 'content', text });
  }

  #deliver(read: FileRead): void {
    if (this.#closed) return;
    const last = this.#last;
    if (last !== undefined && last.kind === read.kind) {
      if (read.kind === 'content' && last.kind === 'content' && read.text === last.text) return;
      if (read.kind !== 'content' && last.kind !== 'content' && read.error.message === last.error.message) return;
    }
    this.#last = read;
    this.#onRead(read);
  }

  #readError(error: unknown): WeftError {
    return new WeftError(`WEFT_E_${this.#deps.area}_FILE_READ`, `could not read ${this.path}: ${describeError(error)}`, { cause: error });
  }
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
