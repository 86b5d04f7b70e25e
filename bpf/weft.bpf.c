// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Outbound capture for meshed pods. Attached once, at the pods' cgroup root, so every pod beneath it
 * runs these programs; the meshed_cgroups map (written by the agent) decides which pods are captured,
 * so meshing a running pod is a map update.
 *
 *   cgroup/connect4, cgroup/connect6: a meshed pod's TCP connect() is rewritten to the agent's
 *     in-pod listener (127.0.0.1 / [::1] : redirect_port), and the original destination is parked
 *     under the socket cookie (the client's local port is not chosen yet).
 *   sockops (TCP_CONNECT_CB): the local port is known now, so the record is re-keyed by
 *     (netns cookie, client port, accept family): exactly what the agent knows after accept().
 *
 * Fail open: no agent heartbeat within heartbeat_timeout_ns, or any map update failing, leaves the
 * connection as the application asked. Nothing here decides routes.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "weft_abi.h"

/* From <linux/net.h> / <linux/in.h>, which BPF C cannot include (they need libc or kernel headers). */
#define SOCK_STREAM 1
#define IPPROTO_TCP 6

/* Knobs set by the addon on the skeleton before load (never -D switches: one object for all hosts). */
const volatile __u16 redirect_port = WEFT_DEFAULT_REDIRECT_PORT;
const volatile __u64 heartbeat_timeout_ns = 1000000000ULL;
const volatile __u64 agent_cgroup_id = 0;
const volatile __u32 max_cgroup_depth = WEFT_MAX_CGROUP_DEPTH;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_MAX_MESHED_CGROUPS);
	__type(key, __u64); /* cgroup id */
	__type(value, struct weft_pod_policy);
} meshed_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_MAX_MESHED_CGROUPS);
	__type(key, __u64); /* cgroup id */
	__type(value, struct weft_pod_counters);
} pod_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WEFT_MAX_EXCLUDED_PORTS);
	__type(key, __u32); /* destination port, host order */
	__type(value, __u32);
} excluded_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weft_agent_state);
} agent_state SEC(".maps");

/* LRU: a connect that never reaches TCP_CONNECT_CB (e.g. EADDRNOTAVAIL) must not leak an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_MAX_PENDING_CONNS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct weft_pending);
} conn_pending SEC(".maps");

/* LRU: a redirected connection the agent never accepts (it died, the client gave up) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_MAX_ORIG_DST);
	__type(key, struct weft_orig_key);
	__type(value, struct weft_orig_dst);
} orig_dst SEC(".maps");

/* The original destination of each captured client socket, for getpeername(): the application
 * asked for one peer and must keep seeing it, not the agent's 127.0.0.1 listener. LRU: entries
 * of closed sockets age out (socket cookies are never reused, so a stale entry is never wrong). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEFT_MAX_SOCK_ORIGIN);
	__type(key, __u64); /* socket cookie */
	__type(value, struct weft_orig_dst);
} sock_origin SEC(".maps");

struct pod_match {
	__u64 cgroup_id;
	__u32 flags;
};

enum counter { COUNT_CAPTURED, COUNT_BYPASSED, COUNT_FAILED };

static __always_inline void count(__u64 pod_cgroup_id, enum counter which)
{
	struct weft_pod_counters *c = bpf_map_lookup_elem(&pod_counters, &pod_cgroup_id);

	/* The agent creates the entry when it meshes the pod; no entry means it is being unmeshed. */
	if (!c)
		return;
	switch (which) {
	case COUNT_CAPTURED:
		__sync_fetch_and_add(&c->captured, 1);
		break;
	case COUNT_BYPASSED:
		__sync_fetch_and_add(&c->bypassed, 1);
		break;
	case COUNT_FAILED:
		__sync_fetch_and_add(&c->failed, 1);
		break;
	}
}

struct cgroup_walk {
	__u64 pod_cgroup_id;
	__u32 pod_flags;
	int pod_level;
	int agent_level;
};

/* One level of the ancestor walk (a bpf_loop callback: verified once, not once per level and path,
 * which a plain loop with these branches would need: it exceeds the verifier's budget). */
static long walk_level(__u32 level, void *data)
{
	struct cgroup_walk *walk = data;
	__u64 id = bpf_get_current_ancestor_cgroup_id(level);

	if (id == 0) /* deeper than the task's own cgroup: done */
		return 1;
	if (agent_cgroup_id != 0 && id == agent_cgroup_id)
		walk->agent_level = level;
	struct weft_pod_policy *policy = bpf_map_lookup_elem(&meshed_cgroups, &id);
	if (policy) {
		walk->pod_cgroup_id = id;
		walk->pod_flags = policy->flags;
		walk->pod_level = level;
	}
	return 0;
}

/*
 * Is the current task in a meshed pod? Walks the task's cgroup ancestors from the root down; the
 * deepest meshed one is the pod (a container cgroup sits below its pod cgroup, and either may be the
 * one the agent marked). Returns 0 when not meshed, or when the task runs in the agent's own cgroup
 * at or below the pod (an agent that meshes its own pod must not capture itself). The agent cgroup
 * found ABOVE the pod (e.g. the agent in the root cgroup) does not count: it contains every pod.
 */
static __always_inline int find_pod(struct pod_match *pod)
{
	struct cgroup_walk walk = { .pod_level = -1, .agent_level = -1 };
	__u32 levels = max_cgroup_depth < WEFT_MAX_CGROUP_DEPTH ? max_cgroup_depth : WEFT_MAX_CGROUP_DEPTH;

	bpf_loop(levels, walk_level, &walk, 0);
	pod->cgroup_id = walk.pod_cgroup_id;
	pod->flags = walk.pod_flags;
	if (walk.pod_level < 0)
		return 0;
	if (walk.agent_level >= walk.pod_level)
		return 0;
	return 1;
}

/* The agent is alive if it wrote a heartbeat within heartbeat_timeout_ns (same clock: monotonic). */
static __always_inline int agent_alive(void)
{
	__u32 zero = 0;
	struct weft_agent_state *state = bpf_map_lookup_elem(&agent_state, &zero);

	if (!state)
		return 0;
	__u64 beat = *(volatile __u64 *)&state->heartbeat_ns;
	if (beat == 0)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	return now <= beat || now - beat <= heartbeat_timeout_ns;
}

static __always_inline int port_excluded(__u16 port)
{
	__u32 key = port;

	return bpf_map_lookup_elem(&excluded_ports, &key) != 0;
}

/* 127/8, and 0.0.0.0, which Linux also connects locally. ip is in network order. */
static __always_inline int loopback4(__u32 ip)
{
	__u32 host = bpf_ntohl(ip);

	return (host >> 24) == 127 || host == 0;
}

/* Parks the original destination under the socket cookie, then rewrites the destination. Returns 0
 * (and counts "failed") if the record cannot be written: then the connection is left alone. */
static __always_inline int park(struct bpf_sock_addr *ctx, struct weft_pending *pending, __u64 pod_cgroup_id)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	pending->dst.pod_cgroup_id = pod_cgroup_id;
	pending->netns_cookie = bpf_get_netns_cookie(ctx);
	if (bpf_map_update_elem(&conn_pending, &cookie, pending, BPF_ANY) != 0) {
		count(pod_cgroup_id, COUNT_FAILED);
		return 0;
	}
	return 1;
}

SEC("cgroup/connect4")
int weft_connect4(struct bpf_sock_addr *ctx)
{
	struct pod_match pod;
	struct weft_pending pending;

	if (ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return 1;
	if (!find_pod(&pod))
		return 1;

	__u32 ip = ctx->user_ip4;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	if (!agent_alive() || loopback4(ip) || port_excluded(port) || !(pod.flags & WEFT_POD_CAPTURE_V4)) {
		count(pod.cgroup_id, COUNT_BYPASSED);
		return 1;
	}

	__builtin_memset(&pending, 0, sizeof(pending));
	__builtin_memcpy(pending.dst.addr, &ip, 4);
	pending.dst.port = port;
	pending.dst.family = WEFT_AF_INET;
	pending.accept_family = WEFT_AF_INET;
	if (!park(ctx, &pending, pod.cgroup_id))
		return 1;

	ctx->user_ip4 = bpf_htonl(0x7f000001); /* 127.0.0.1 */
	ctx->user_port = bpf_htons(redirect_port);
	count(pod.cgroup_id, COUNT_CAPTURED);
	return 1;
}

SEC("cgroup/connect6")
int weft_connect6(struct bpf_sock_addr *ctx)
{
	struct pod_match pod;
	struct weft_pending pending;

	if (ctx->type != SOCK_STREAM || ctx->protocol != IPPROTO_TCP)
		return 1;
	if (!find_pod(&pod))
		return 1;

	__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	/* ::ffff:a.b.c.d is an IPv4 connection from a dual-stack socket: it goes to the v4 listener. */
	int mapped = a0 == 0 && a1 == 0 && a2 == bpf_htonl(0x0000ffff);
	int loopback = mapped ? loopback4(a3) : (a0 == 0 && a1 == 0 && a2 == 0 && (a3 == bpf_htonl(1) || a3 == 0));
	__u32 needed = mapped ? WEFT_POD_CAPTURE_V4 : WEFT_POD_CAPTURE_V6;

	if (!agent_alive() || loopback || port_excluded(port) || !(pod.flags & needed)) {
		count(pod.cgroup_id, COUNT_BYPASSED);
		return 1;
	}

	__builtin_memset(&pending, 0, sizeof(pending));
	pending.dst.port = port;
	if (mapped) {
		__builtin_memcpy(pending.dst.addr, &a3, 4);
		pending.dst.family = WEFT_AF_INET;
		pending.accept_family = WEFT_AF_INET;
	} else {
		__builtin_memcpy(pending.dst.addr, &a0, 4);
		__builtin_memcpy(pending.dst.addr + 4, &a1, 4);
		__builtin_memcpy(pending.dst.addr + 8, &a2, 4);
		__builtin_memcpy(pending.dst.addr + 12, &a3, 4);
		pending.dst.family = WEFT_AF_INET6;
		pending.accept_family = WEFT_AF_INET6;
	}
	if (!park(ctx, &pending, pod.cgroup_id))
		return 1;

	ctx->user_ip6[0] = 0;
	ctx->user_ip6[1] = 0;
	if (mapped) {
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = bpf_htonl(0x7f000001); /* ::ffff:127.0.0.1 */
	} else {
		ctx->user_ip6[2] = 0;
		ctx->user_ip6[3] = bpf_htonl(1); /* ::1 */
	}
	ctx->user_port = bpf_htons(redirect_port);
	count(pod.cgroup_id, COUNT_CAPTURED);
	return 1;
}

SEC("sockops")
int weft_sockops(struct bpf_sock_ops *skops)
{
	struct weft_orig_key key;
	struct weft_orig_dst dst;

	/* TCP_CONNECT_CB runs in tcp_connect(), after the local port is bound and before the SYN. */
	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct weft_pending *pending = bpf_map_lookup_elem(&conn_pending, &cookie);
	if (!pending)
		return 1;

	__builtin_memset(&key, 0, sizeof(key));
	key.netns_cookie = pending->netns_cookie;
	key.port = (__u16)skops->local_port; /* host order in bpf_sock_ops */
	key.family = pending->accept_family;
	/* Copied out: the value must not be used after the delete below. */
	__builtin_memcpy(&dst, &pending->dst, sizeof(dst));
	if (bpf_map_update_elem(&orig_dst, &key, &dst, BPF_ANY) != 0)
		count(dst.pod_cgroup_id, COUNT_FAILED);
	/* Best effort: without it only getpeername() shows the capture address. */
	bpf_map_update_elem(&sock_origin, &cookie, &dst, BPF_ANY);
	bpf_map_delete_elem(&conn_pending, &cookie);
	return 1;
}

/* getpeername() of a captured client: the destination it dialled, in the family it dialled. */
SEC("cgroup/getpeername4")
int weft_getpeername4(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct weft_orig_dst *dst = bpf_map_lookup_elem(&sock_origin, &cookie);
	__u32 ip;

	if (!dst || dst->family != WEFT_AF_INET)
		return 1;
	__builtin_memcpy(&ip, dst->addr, 4);
	ctx->user_ip4 = ip;
	ctx->user_port = bpf_htons(dst->port);
	return 1;
}

SEC("cgroup/getpeername6")
int weft_getpeername6(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct weft_orig_dst *dst = bpf_map_lookup_elem(&sock_origin, &cookie);
	__u32 w[4];

	if (!dst)
		return 1;
	if (dst->family == WEFT_AF_INET) {
		/* A v4-mapped dial on a dual-stack socket: answer ::ffff:a.b.c.d. */
		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		__builtin_memcpy(&w[3], dst->addr, 4);
	} else {
		__builtin_memcpy(w, dst->addr, 16);
	}
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = bpf_htons(dst->port);
	return 1;
}

/* The kernel's licence string must name a GPL-compatible licence; this file is offered under
 * GPL-2.0 (or Apache-2.0, see the SPDX line), so "GPL" is the honest one of its accepted strings. */
char LICENSE[] SEC("license") = "GPL";
