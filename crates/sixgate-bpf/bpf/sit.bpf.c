// SPDX-License-Identifier: MIT OR Apache-2.0
// The 6in4 fast path (RFC 4213), two TC programs in one object:
//
// - sixgate_sit_decap, at the ingress of the IPv4 interfaces: a protocol-41 packet that
//   passes the engine's outer and inner checks, in the engine's order (RFC 4213 §3.6,
//   RFC 3964 §5.1 in 6to4 mode, RFC 6040 §4.2 with the engine's own table in the config),
//   loses its outer header (bpf_skb_adjust_room, GSO kept) and is redirected into the
//   ingress of the tunnel's TUN device, so that it enters the stack through the tunnel
//   interface. Everything else goes on unchanged (TC_ACT_OK): the kernel delivers
//   protocol 41 and ICMPv4 to the engine's raw sockets, which decide.
// - sixgate_sit_encap, at the egress of the TUN device: an IPv6 packet within the tunnel
//   (or learned path) MTU gets the engine's outer header (RFC 4213 §3.5; TTL §3.3; DSCP
//   and ECN per RFC 6040 §4.1) after a FIB lookup, then goes out of the IPv4 interface
//   the FIB names. Everything else goes on unchanged (TC_ACT_OK): the TUN device hands it
//   to the engine, which answers Packet Too Big, fragments, or drops it with a reason.
//
// The rules are the engine's (sixgate_6in4::SitTunnel); the tests run both on the same
// bytes and compare. Each handled packet counts at index 0 of sit_counters, each punted
// one at its reason's index (the order of sixgate_bpf::sit::SIT_PUNT_REASONS, from 1).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Kernel 6.3 (uapi enum, not in older libbpf headers): the new outer L3 protocol after
// a decapsulation, so that skb->protocol follows.
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV6
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

#define AF_INET 2
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_IPV6 41
#define IPV6_MIN_MTU 1280
#define ECN_DROP 0xff

// Punt reasons: the index in sit_counters (0 counts the packets handled). Keep in the
// order of sixgate_bpf::sit::SIT_PUNT_REASONS.
enum {
	P_NOT_IPV4 = 1,
	P_MALFORMED,
	P_IPV4_OPTIONS,
	P_IPV4_HEADER_CHECKSUM,
	P_OUTER_FRAGMENT,
	P_WRONG_OUTER_DESTINATION,
	P_ICMPV4,
	P_NOT_PROTOCOL_41,
	P_WRONG_OUTER_SOURCE,
	P_INNER_MALFORMED,
	P_LENGTH_MISMATCH,
	P_FORBIDDEN_INNER_SOURCE,
	P_NON_GLOBAL_6TO4,
	P_SPOOFED_6TO4,
	P_NOT_FROM_RELAY,
	P_INNER_DESTINATION_NOT_OURS,
	P_ECN_CE_ON_NOT_ECT,
	P_NOT_IPV6,
	P_NO_RELAY,
	P_TOO_BIG,
	P_OUTER_FRAGMENTATION,
	P_GSO_UNSUPPORTED,
	P_NO_ROUTE,
	P_NO_NEIGHBOUR,
	P_ROUTE_MTU,
	P_ADJUST_FAILED,
	P_DROPPED,
	P_COUNT,
};

// The configuration, one entry, laid out by sixgate_bpf::sit (little-endian fields,
// addresses in network order).
struct sit_cfg {
	__u32 local;       // outer source, our address
	__u32 remote;      // static mode: the remote endpoint
	__u32 relay;       // 6to4 mode: the relay (has_relay)
	__u32 tun_ifindex; // the TUN device: decapsulated packets go into its ingress
	__u16 tunnel_mtu;  // largest inner packet (RFC 4213 §3.2)
	__u16 link_mtu;
	__u16 test_id;     // test_mode: the outer Identification of every packet
	__u8 mode;         // 0 static, 1 6to4
	__u8 ttl;          // RFC 4213 §3.3
	__u8 copy_dscp;
	__u8 ecn_normal;   // RFC 6040 §4.1: 1 normal mode, 0 compatibility mode
	__u8 test_mode;
	__u8 has_relay;
	__u8 ecn_decap[16]; // RFC 6040 §4.2 [inner * 4 + outer], ECN_DROP: drop
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sit_cfg);
} sit_cfg SEC(".maps");

// Learned path MTUs (outer, IPv4 terms) by destination, mirrored from the engine.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u32);
} sit_pmtu SEC(".maps");

struct lpm_v4 {
	__u32 prefixlen;
	__u32 addr;
};

// The IPv4 blocks that are not global (sixgate_core::class::non_global_v4_ranges as
// prefixes): RFC 3964 §5.1 in 6to4 mode.
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, __u8);
} sit_nonglobal SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, P_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} sit_counters SEC(".maps");

// The outer Identification, per CPU (the outer packets carry DF: RFC 6864 §4.1 asks
// no uniqueness of atomic datagrams).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sit_ipid SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *n = bpf_map_lookup_elem(&sit_counters, &index);
	if (n)
		*n += 1;
}

static __always_inline int punt(__u32 reason)
{
	count(reason);
	return TC_ACT_OK;
}

static __always_inline const struct sit_cfg *config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&sit_cfg, &zero);
}

static __always_inline __u16 be16(const __u8 *p)
{
	return ((__u16)p[0] << 8) | p[1];
}

static __always_inline __u32 word(const __u8 *p)
{
	__u32 w;
	__builtin_memcpy(&w, p, 4);
	return w;
}

static __always_inline int non_global(__u32 addr)
{
	struct lpm_v4 key = { .prefixlen = 32, .addr = addr };
	return bpf_map_lookup_elem(&sit_nonglobal, &key) != NULL;
}

// 6to4 (RFC 3056 §2): the IPv4 address a 2002::/16 address embeds, in *out.
static __always_inline int sixtofour(const __u8 *a, __u32 *out)
{
	if (a[0] != 0x20 || a[1] != 0x02)
		return 0;
	*out = word(a + 2);
	return 1;
}

// The one's-complement sum of a 20-byte header, folded.
static __always_inline __u16 fold20(const __u8 *h)
{
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 20; i += 2)
		s += be16(h + i);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

SEC("classifier")
int sixgate_sit_decap(struct __sk_buff *skb)
{
	const struct sit_cfg *c = config();
	if (!c)
		return TC_ACT_OK;
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return punt(P_NOT_IPV4);
	__u8 h[20];
	__u32 len = skb->len;
	if (len < ETH_HLEN + 20 || bpf_skb_load_bytes(skb, ETH_HLEN, h, 20) < 0)
		return punt(P_MALFORMED);
	if (h[0] >> 4 != 4 || (h[0] & 0x0f) < 5)
		return punt(P_MALFORMED);
	// IPv4 options: the engine's general path.
	if (h[0] != 0x45)
		return punt(P_IPV4_OPTIONS);
	__u32 total = be16(h + 2);
	if (total < 20 || total > len - ETH_HLEN)
		return punt(P_MALFORMED);
	// RFC 1812 §5.2.2: the header checksum.
	if (fold20(h) != 0xffff)
		return punt(P_IPV4_HEADER_CHECKSUM);
	// MF or a fragment offset: the raw socket reassembles.
	if ((h[6] & 0x3f) || h[7])
		return punt(P_OUTER_FRAGMENT);
	if (word(h + 16) != c->local)
		return punt(P_WRONG_OUTER_DESTINATION);
	if (h[9] == PROTO_ICMP)
		return punt(P_ICMPV4);
	if (h[9] != PROTO_IPV6)
		return punt(P_NOT_PROTOCOL_41);
	__u32 src4 = word(h + 12);
	// RFC 4213 §3.6: a configured tunnel accepts only its remote endpoint.
	if (c->mode == 0 && src4 != c->remote)
		return punt(P_WRONG_OUTER_SOURCE);
	__u8 in[40];
	if (total < 20 + 40 || bpf_skb_load_bytes(skb, ETH_HLEN + 20, in, 40) < 0)
		return punt(P_INNER_MALFORMED);
	__u32 ilen = 40 + (__u32)be16(in + 4);
	if (in[0] >> 4 != 6 || ilen > total - 20)
		return punt(P_INNER_MALFORMED);
	// The engine trims what follows the inner packet; the fast path takes exact lengths.
	if (ilen != total - 20 || total != len - ETH_HLEN)
		return punt(P_LENGTH_MISMATCH);
	// RFC 4213 §3.6 / RFC 3964 §5.1: no multicast, IPv4-compatible (::, ::1 included)
	// or IPv4-mapped inner source.
	const __u8 *s = in + 8;
	int zero80 = !(word(s) | word(s + 4) | s[8] | s[9]);
	if (s[0] == 0xff || (zero80 && ((s[10] == 0 && s[11] == 0) || (s[10] == 0xff && s[11] == 0xff))))
		return punt(P_FORBIDDEN_INNER_SOURCE);
	if (c->mode == 1) {
		int from_relay = c->has_relay && src4 == c->relay;
		__u32 a;
		if (sixtofour(s, &a)) {
			// RFC 3964 §5.1: 6to4 addresses embed global IPv4 addresses only, and the
			// source's must be the outer source unless the relay sent it.
			if (non_global(a))
				return punt(P_NON_GLOBAL_6TO4);
			if (a != src4 && !from_relay)
				return punt(P_SPOOFED_6TO4);
		} else if (!from_relay) {
			// A native source comes only through the relay.
			return punt(P_NOT_FROM_RELAY);
		}
		__u32 d;
		if (!sixtofour(in + 24, &d) || d != c->local)
			return punt(P_INNER_DESTINATION_NOT_OURS);
	}
	// RFC 6040 §4.2: the outer ECN field combined into the inner one, by the engine's table.
	__u8 ie = (in[1] >> 4) & 3;
	__u8 ne = c->ecn_decap[(ie * 4 + (h[1] & 3)) & 15];
	if (ne == ECN_DROP)
		return punt(P_ECN_CE_ON_NOT_ECT);
	// The inner hop limit is left as it is (the engine's decapsulation is not a hop).
	if (bpf_skb_adjust_room(skb, -20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_DECAP_L3_IPV6))
		return punt(P_ADJUST_FAILED);
	// From here the packet is changed: a failure drops it.
	__u16 proto = bpf_htons(ETH_P_IPV6);
	if (bpf_skb_store_bytes(skb, 12, &proto, 2, 0) < 0) {
		count(P_DROPPED);
		return TC_ACT_SHOT;
	}
	if (ne != ie) {
		// The traffic class is in no checksum; the complete checksum follows.
		__u8 b = (in[1] & 0xcf) | (ne << 4);
		if (bpf_skb_store_bytes(skb, ETH_HLEN + 1, &b, 1, BPF_F_RECOMPUTE_CSUM) < 0) {
			count(P_DROPPED);
			return TC_ACT_SHOT;
		}
	}
	count(0);
	return bpf_redirect(c->tun_ifindex, BPF_F_INGRESS);
}

SEC("classifier")
int sixgate_sit_encap(struct __sk_buff *skb)
{
	const struct sit_cfg *c = config();
	if (!c)
		return TC_ACT_OK;
	// The TUN device carries bare IPv6 packets; a test run (BPF_PROG_TEST_RUN) gives an
	// Ethernet frame.
	__u32 l2 = (c->tun_ifindex != 0 && skb->ifindex == c->tun_ifindex) ? 0 : ETH_HLEN;
	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return punt(P_NOT_IPV6);
	__u8 in[40];
	__u32 len = skb->len;
	if (len < l2 + 40 || bpf_skb_load_bytes(skb, l2, in, 40) < 0)
		return punt(P_MALFORMED);
	if (in[0] >> 4 != 6)
		return punt(P_MALFORMED);
	__u32 ilen = 40 + (__u32)be16(in + 4);
	if (ilen > len - l2)
		return punt(P_MALFORMED);
	if (ilen != len - l2)
		return punt(P_LENGTH_MISMATCH);
	__u32 dst4;
	if (c->mode == 0) {
		dst4 = c->remote;
	} else {
		__u32 a;
		if (sixtofour(in + 24, &a)) {
			// RFC 3964 §5.1: never tunnel to a non-global IPv4 address.
			if (non_global(a))
				return punt(P_NON_GLOBAL_6TO4);
			dst4 = a;
		} else if (c->has_relay) {
			dst4 = c->relay;
		} else {
			return punt(P_NO_RELAY);
		}
	}
	// RFC 4213 §3.2: the tunnel MTU, or the learned path MTU less the outer header.
	__u32 limit = c->tunnel_mtu;
	__u32 *pmtu = bpf_map_lookup_elem(&sit_pmtu, &dst4);
	if (pmtu) {
		__u32 p = *pmtu > 20 ? *pmtu - 20 : 0;
		// Below 1280 the engine offers 1280 and fragments the outer packet (DF clear).
		if (p < IPV6_MIN_MTU)
			return punt(P_OUTER_FRAGMENTATION);
		if (p < limit)
			limit = p;
	}
	__u32 seg = ilen;
	if (skb->gso_size) {
		// Each segment must fit, as the engine sees them after segmentation.
		if (in[6] == PROTO_TCP) {
			__u8 off;
			if (bpf_skb_load_bytes(skb, l2 + 40 + 12, &off, 1) < 0)
				return punt(P_GSO_UNSUPPORTED);
			seg = 40 + (off >> 4) * 4 + skb->gso_size;
		} else if (in[6] == PROTO_UDP) {
			seg = 40 + 8 + skb->gso_size;
		} else {
			return punt(P_GSO_UNSUPPORTED);
		}
	}
	if (seg > limit)
		return punt(P_TOO_BIG);
	__u8 tc = ((in[0] & 0x0f) << 4) | (in[1] >> 4);
	// RFC 2983 uniform model when asked, RFC 6040 §4.1 normal or compatibility mode.
	__u8 tos = (c->copy_dscp ? (tc & 0xfc) : 0) | (c->ecn_normal ? (tc & 3) : 0);
	__u32 total = ilen + 20;

	// The route before any change: a packet the kernel cannot send goes to the engine.
	// The lookup is the forwarding one, from the TUN device (the helper asks IPv4
	// forwarding of that device: SitFastPath::attach turns it on for the TUN alone).
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	fib.l4_protocol = PROTO_IPV6;
	fib.tos = tos;
	fib.tot_len = skb->gso_size ? 0 : total;
	fib.ipv4_src = c->local;
	fib.ipv4_dst = dst4;
	fib.ifindex = skb->ifindex;
	long r = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (r == BPF_FIB_LKUP_RET_NO_NEIGH)
		return punt(P_NO_NEIGHBOUR);
	if (r == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return punt(P_ROUTE_MTU);
	if (r != BPF_FIB_LKUP_RET_SUCCESS)
		return punt(P_NO_ROUTE);

	__u16 id;
	if (c->test_mode) {
		id = c->test_id;
	} else {
		__u32 zero = 0;
		__u32 *n = bpf_map_lookup_elem(&sit_ipid, &zero);
		if (!n)
			return punt(P_ADJUST_FAILED);
		*n += 1;
		id = (__u16)*n;
	}
	// RFC 4213 §3.5: the outer header, protocol 41, DF set (§3.2: the path MTU is known).
	__u8 hdr[34];
	__builtin_memcpy(hdr, fib.dmac, 6);
	__builtin_memcpy(hdr + 6, fib.smac, 6);
	hdr[12] = 0x08;
	hdr[13] = 0x00;
	__u8 *ip = hdr + 14;
	ip[0] = 0x45;
	ip[1] = tos;
	ip[2] = total >> 8;
	ip[3] = total & 0xff;
	ip[4] = id >> 8;
	ip[5] = id & 0xff;
	ip[6] = 0x40;
	ip[7] = 0;
	ip[8] = c->ttl;
	ip[9] = PROTO_IPV6;
	ip[10] = 0;
	ip[11] = 0;
	__builtin_memcpy(ip + 12, &c->local, 4);
	__builtin_memcpy(ip + 16, &dst4, 4);
	__u16 sum = ~fold20(ip);
	ip[10] = sum >> 8;
	ip[11] = sum & 0xff;

	// Room for the outer header after the link-layer header (none on the TUN device),
	// GSO kept with its segment size (the tunnel MTU already leaves room for it).
	if (bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
		return punt(P_ADJUST_FAILED);
	// From here the packet is changed: a failure drops it.
	if (l2 == 0 && bpf_skb_change_head(skb, ETH_HLEN, 0) < 0) {
		count(P_DROPPED);
		return TC_ACT_SHOT;
	}
	if (bpf_skb_store_bytes(skb, 0, hdr, sizeof(hdr), 0) < 0) {
		count(P_DROPPED);
		return TC_ACT_SHOT;
	}
	count(0);
	return bpf_redirect(fib.ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
