// What the lab makes, as records a caller can keep outside the process (the test harness appends
// them to a ledger file the moment each thing is made), so that a process killed mid-test still
// leaves a list of what to remove.

export type LabResource =
  | { readonly kind: 'netns'; readonly name: string }
  | { readonly kind: 'cgroup'; readonly path: string }
  | { readonly kind: 'pin'; readonly path: string }
  /** `startTime` is field 22 of /proc/<pid>/stat: a PID reused by another process never matches. */
  | { readonly kind: 'pid'; readonly pid: number; readonly startTime: string };

export interface LabRecorder {
  /** Called just BEFORE a netns or cgroup is made (a crash in between then errs on the safe side)
   *  and just after a process is started (its PID is known only then). Must not throw. */
  record(resource: LabResource): void;
}

export const noRecorder: LabRecorder = { record() {} };

/** Reads one record back (e.g. a parsed ledger line); undefined if it is not one. */
export function parseLabResource(value: unknown): LabResource | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  switch (record['kind']) {
    case 'netns':
      return typeof record['name'] === 'string' ? { kind: 'netns', name: record['name'] } : undefined;
    case 'cgroup':
    case 'pin': {
      const path = record['path'];
      if (typeof path !== 'string' || !path.startsWith('/')) return undefined;
      return record['kind'] === 'cgroup' ? { kind: 'cgroup', path } : { kind: 'pin', path };
    }
    case 'pid': {
      const { pid, startTime } = record;
      if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) return undefined;
      return typeof startTime === 'string' ? { kind: 'pid', pid, startTime } : undefined;
    }
    default:
      return undefined;
  }
}
