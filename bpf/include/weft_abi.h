/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The one ABI shared by the BPF programs (bpf/weft.bpf.c) and the native addon (native/). The addon
 * reports offsetof/sizeof of every field below to agent/intercept/abi.ts, which encodes from those
 * numbers instead of restating this layout in TypeScript.
 *
 * Rules: fixed-width types only, every byte is a named field (explicit padding, so a zeroed buffer
 * from userspace and a memset struct in BPF compare equal as hash keys), sizes asserted, every
 * struct a multiple of 8 bytes so arrays of them and the u64 fields stay aligned.
 */
#ifndef WEFT_ABI_H
#define WEFT_ABI_H

#include <linux/types.h>

/* Bump when any struct, map or constant below changes meaning. */
#define WEFT_ABI_VERSION 1

/* Address families as the kernel numbers them. Spelled out because BPF C has no libc headers;
 * native/ asserts they equal AF_INET/AF_INET6. */
#define WEFT_AF_INET 2
#define WEFT_AF_INET6 10

/* weft_pod_policy.flags */
#define WEFT_POD_CAPTURE_V4 1u
#define WEFT_POD_CAPTURE_V6 2u

/* Map capacities. A node runs at most a few hundred pods; the connection maps are LRU, sized for
 * bursts of connects that the agent has not accepted yet (an entry lives from connect() until the
 * agent's accept reads it). */
#define WEFT_MAX_MESHED_CGROUPS 16384
#define WEFT_MAX_EXCLUDED_PORTS 256
#define WEFT_MAX_PENDING_CONNS 65536
#define WEFT_MAX_ORIG_DST 65536
/* Captured client sockets whose getpeername() is answered with the original destination. */
#define WEFT_MAX_SOCK_ORIGIN 65536

/* Upper bound of the cgroup ancestor walk in connect4/6 (the verifier needs a constant bound); the
 * rodata knob max_cgroup_depth may lower it. A kubelet container cgroup sits 4-5 levels below the
 * pods root, which itself may be a few levels deep. */
#define WEFT_MAX_CGROUP_DEPTH 32

/* Default in-pod capture port (rodata knob redirect_port). */
#define WEFT_DEFAULT_REDIRECT_PORT 4140

#ifdef __cplusplus
#define WEFT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define WEFT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* meshed_cgroups value: what the agent captures for this pod's cgroup. */
struct weft_pod_policy {
	__u32 flags; /* WEFT_POD_CAPTURE_* */
	__u32 reserved;
};
WEFT_STATIC_ASSERT(sizeof(struct weft_pod_policy) == 8, "weft_pod_policy is 8 bytes");

/* pod_counters value. Userspace creates the zeroed entry when it meshes a pod; BPF only adds. */
struct weft_pod_counters {
	__u64 captured; /* redirected to the agent */
	__u64 bypassed; /* meshed pod, left alone on purpose (agent not alive, loopback, excluded, family off) */
	__u64 failed;   /* meshed pod, wanted capture but a map update failed: left alone */
};
WEFT_STATIC_ASSERT(sizeof(struct weft_pod_counters) == 24, "weft_pod_counters is 24 bytes");

/* agent_state[0]. heartbeat_ns is CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() reads. */
struct weft_agent_state {
	__u64 heartbeat_ns;
};
WEFT_STATIC_ASSERT(sizeof(struct weft_agent_state) == 8, "weft_agent_state is 8 bytes");

/* orig_dst key: what the agent knows when it accepts a redirected connection. */
struct weft_orig_key {
	__u64 netns_cookie; /* the pod's netns (client and agent listener share it) */
	__u16 port;         /* the client's local port, host order (the accepted socket's remote port) */
	__u16 family;       /* family of the socket the AGENT accepts: v4 for v4 and v4-mapped clients */
	__u32 pad;
};
WEFT_STATIC_ASSERT(sizeof(struct weft_orig_key) == 16, "weft_orig_key is 16 bytes");

/* orig_dst value: where the client meant to go. */
struct weft_orig_dst {
	__u8 addr[16];        /* v4: first 4 bytes, network order, rest zero; v6: all 16 */
	__u16 port;           /* host order */
	__u16 family;         /* WEFT_AF_INET or WEFT_AF_INET6 (a v4-mapped destination is WEFT_AF_INET) */
	__u32 pad;
	__u64 pod_cgroup_id;  /* the meshed cgroup that matched */
};
WEFT_STATIC_ASSERT(sizeof(struct weft_orig_dst) == 32, "weft_orig_dst is 32 bytes");

/* conn_pending value, keyed by socket cookie: written at connect (the local port is not known
 * yet), re-keyed by sockops once it is. */
struct weft_pending {
	struct weft_orig_dst dst;
	__u64 netns_cookie;
	__u16 accept_family; /* becomes weft_orig_key.family */
	__u16 pad[3];
};
WEFT_STATIC_ASSERT(sizeof(struct weft_pending) == 48, "weft_pending is 48 bytes");

WEFT_STATIC_ASSERT(sizeof(struct weft_pod_policy) % 8 == 0 && sizeof(struct weft_pod_counters) % 8 == 0 &&
			   sizeof(struct weft_agent_state) % 8 == 0 && sizeof(struct weft_orig_key) % 8 == 0 &&
			   sizeof(struct weft_orig_dst) % 8 == 0 && sizeof(struct weft_pending) % 8 == 0,
		   "every ABI struct is a multiple of 8 bytes");

#endif /* WEFT_ABI_H */
