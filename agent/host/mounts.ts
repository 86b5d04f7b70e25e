// /proc/mounts and /proc/filesystems, parsed. `weft check` reads them instead of assuming paths:
// hosts differ (cgroup2 at /sys/fs/cgroup or /sys/fs/cgroup/unified, bpffs mounted or not).

export interface MountEntry {
  readonly source: string;
  readonly mountPoint: string;
  readonly type: string;
  readonly options: readonly string[];
}

/** Each well-formed line of /proc/mounts; malformed lines are skipped. */
export function parseMounts(procMounts: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of procMounts.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [source, mountPoint, type, options] = fields;
    if (source === undefined || mountPoint === undefined || type === undefined || options === undefined) continue;
    entries.push({ source: unescapeMountField(source), mountPoint: unescapeMountField(mountPoint), type, options: options.split(',') });
  }
  return entries;
}

/** The entry mounted last at `mountPoint` (the one visible there), if any. */
export function mountAt(entries: readonly MountEntry[], mountPoint: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const entry of entries) if (entry.mountPoint === mountPoint) found = entry;
  return found;
}

/** File system types the kernel supports, from /proc/filesystems ("nodev\tbpf" lines and "\text4"). */
export function parseFilesystems(procFilesystems: string): ReadonlySet<string> {
  const types = new Set<string>();
  for (const line of procFilesystems.split('\n')) {
    const name = line.split('\t').at(-1)?.trim();
    if (name !== undefined && name !== '') types.add(name);
  }
  return types;
}

/** The kernel escapes space, tab, newline and backslash in mount fields as octal (\040 …). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The inverse, for building test input and for round-trip properties. */
export function escapeMountField(field: string): string {
  return field.replace(/[ \t\n\\]/g, (char) => `\\${char.charCodeAt(0).toString(8).padStart(3, '0')}`);
}
