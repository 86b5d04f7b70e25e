// Effective capabilities from /proc/self/status (`CapEff:` is a 64-bit hex mask). The agent
// needs a handful, and each missing one breaks a different step, so they are checked by number
// and named in messages rather than reduced to "run as root".

export const capabilities = {
  CAP_NET_ADMIN: 12,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_BPF: 39,
} as const;

// Names of all capabilities up to CAP_CHECKPOINT_RESTORE (40), for printing a mask.
const capabilityNames: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export function capabilityName(bit: number): string {
  return capabilityNames[bit] ?? `CAP_${bit}`;
}

/** The set bits of a capability mask in hex ("000001fffeffffff"); undefined if it is not one. */
export function parseCapabilityMask(hex: string): ReadonlySet<number> | undefined {
  const text = hex.trim();
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  const mask = BigInt(`0x${text}`);
  const bits = new Set<number>();
  for (let bit = 0; bit < 64; bit += 1) if ((mask >> BigInt(bit)) & 1n) bits.add(bit);
  return bits;
}

/** The effective set from /proc/<pid>/status text; undefined when the line is missing or malformed. */
export function effectiveCapabilities(procStatus: string): ReadonlySet<number> | undefined {
  const line = /^CapEff:\s*(\S+)\s*$/m.exec(procStatus);
  return line?.[1] === undefined ? undefined : parseCapabilityMask(line[1]);
}
