// SPDX-License-Identifier: MIT OR Apache-2.0
// The SIIT fast path (RFC 7915 for the common classes), a TC program attached at the
// ingress hook of the gateway's interfaces.
//
// It translates, both ways, unfragmented TCP, UDP and ICMP echo request/reply without IPv4
// options or IPv6 extension headers, between addresses that pool6 (RFC 6052, every length)
// or the EAM table (RFC 7757) map, exactly as the sans-IO engine sixgate_nat64::Siit does
// (the tests compare the bytes). Everything else is handed UNCHANGED to the engine's TUN
// device and counted under a reason. Packets the kernel would not route to that device
// (neighbour discovery, ARP, traffic for this host or for other routes) are not looked at.
//
// Order of work: every check and the FIB lookup of the translated packet first, while the
// packet is untouched (a refusal punts it as it arrived); then bpf_skb_change_proto (which
// keeps GSO), the new header, the transport checksum by RFC 1624 through
// bpf_l4_csum_replace (BPF_F_PSEUDO_HDR for pseudo-header changes, so partially
// checksummed packets, CHECKSUM_PARTIAL, stay right), and the redirect.
//
// The configuration is laid out by the loader (crates/sixgate-bpf/src/siit.rs) as bytes;
// the offsets below are the layout's.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define NH_FRAGMENT 44

// Punt reasons: index in the counter map (0 counts the packets forwarded). The loader's
// SIIT_PUNT_REASONS names them in this order.
enum reason {
	R_FORWARDED = 0,
	R_MALFORMED,
	R_IPV4_HEADER_CHECKSUM,
	R_IPV4_OPTIONS,
	R_FRAGMENT,
	R_EXTENSION_HEADER,
	R_TO_TRANSLATOR,
	R_TTL_EXCEEDED,
	R_HOP_LIMIT_EXCEEDED,
	R_LINK_LOCAL,
	R_FORBIDDEN_ADDRESS,
	R_UNTRANSLATABLE_SOURCE,
	R_UNTRANSLATABLE_DESTINATION,
	R_DENYLISTED_ADDRESS,
	R_WKP_NON_GLOBAL,
	R_HAIRPIN,
	R_ICMP_NOT_ECHO,
	R_UNKNOWN_PROTOCOL,
	R_UDP_ZERO_CHECKSUM,
	R_UDP6_ZERO_CHECKSUM,
	R_TOO_BIG,
	R_NO_ROUTE,
	R_HELPER_FAILED,
	R_RECONFIGURING,
	R_GSO_SHORT_TAIL,
	R_COUNT,
};

// The configuration (one entry), as the loader writes it.
struct siit_cfg {
	__u8 pool_len;     // 0: no pool6; else 32, 40, 48, 56, 64 or 96
	__u8 well_known;   // pool6 is 64:ff9b::/96 (RFC 6052 §3.1)
	__u8 tc_keep;      // IPv4 TOS -> traffic class: (tos & keep) | set
	__u8 tc_set;
	__u8 tos_keep;     // traffic class -> IPv4 TOS
	__u8 tos_set;
	__u8 has_eam;
	__u8 test_mode;    // BPF_PROG_TEST_RUN: no FIB lookups, translated frames answer TC_ACT_OK
	__u16 ipv4_mtu;
	__u16 ipv6_mtu;
	__u16 lowest_ipv6_mtu;
	__u16 _pad0;
	__u32 punt_ifindex;
	__u32 own4;        // network order
	__u8 pool6[16];
	__u8 own6[16];
	__u8 _pad1[8];
};

// Flags of an IPv4 range in siit_v4class.
#define V4_FORBIDDEN 1   // sixgate_core::class::is_forbidden_v4
#define V4_NON_GLOBAL 2  // sixgate_core::class::non_global_v4_ranges
#define V4_DENYLISTED 4  // the configuration's denylist4

struct lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

// RFC 7757 entry seen from the IPv6 side: n4 | ((x & ~m6) >> pad & ~m4).
struct eam6_val {
	__u32 n4;     // host order
	__u32 m4;     // host order
	__u32 pad;    // IPv6 suffix bits the IPv4 suffix does not fill (0..=128)
	__u32 plen6;  // IPv6 prefix length
};

// Seen from the IPv4 side: n6 | ((a & ~m4) << pad).
struct eam4_val {
	__u8 n6[16];
	__u32 m4;     // host order
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct siit_cfg);
} siit_cfg SEC(".maps");

// Index 0: non-zero while the loader rewrites the tables (every packet is punted).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} siit_pause SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, R_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} siit_counters SEC(".maps");

// The last IPv4 Identification used, per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} siit_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm4);
	__type(value, __u32);
} siit_v4class SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm6);
	__type(value, struct eam6_val);
} siit_eam6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm4);
	__type(value, struct eam4_val);
} siit_eam4 SEC(".maps");

// Whether the loader is rewriting the tables.
static __always_inline int paused(void)
{
	__u32 zero = 0;
	__u32 *p = bpf_map_lookup_elem(&siit_pause, &zero);
	return p && *p;
}

// Makes the first `need` bytes (at most the packet) linear, so the headers can be read.
static __always_inline int pull(struct __sk_buff *skb, __u32 need)
{
	if (need > skb->len)
		need = skb->len;
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	if (data + need <= end)
		return 0;
	return bpf_skb_pull_data(skb, need) ? -1 : 0;
}

static __always_inline void count(__u32 idx)
{
	__u64 *n = bpf_map_lookup_elem(&siit_counters, &idx);
	if (n)
		*n += 1;
}

// Hands the packet, unchanged, to the engine's TUN device.
static __always_inline int punt(const struct siit_cfg *c, __u32 why)
{
	count(why);
	return bpf_redirect(c->punt_ifindex, 0);
}

// One's-complement sum of `n` 16-bit words, folded (RFC 1071).
static __always_inline __u16 fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static __always_inline __u32 v4flags(__u32 a_be)
{
	struct lpm4 k = { .prefixlen = 32 };
	__builtin_memcpy(k.addr, &a_be, 4);
	__u32 *f = bpf_map_lookup_elem(&siit_v4class, &k);
	return f ? *f : 0;
}

static __always_inline __u64 load_be64(const __u8 *p)
{
	__u64 x;
	__builtin_memcpy(&x, p, 8);
	return bpf_be64_to_cpu(x);
}

static __always_inline void store_be64(__u8 *p, __u64 x)
{
	x = bpf_cpu_to_be64(x);
	__builtin_memcpy(p, &x, 8);
}

// RFC 7915 §5.1 address translation IPv6 -> IPv4 (as Siit::map64): EAM first (RFC 7757
// §3.3, longest match), then RFC 6052 §2.2 extraction with pool6 and its checks. Returns
// 0 and the address (network order) in *out, or a punt reason.
static __always_inline __u32 map64(const struct siit_cfg *c, const __u8 *a, __u32 untranslatable, __u32 *out)
{
	if (c->has_eam) {
		struct lpm6 k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, a, 16);
		struct eam6_val *e = bpf_map_lookup_elem(&siit_eam6, &k);
		if (e) {
			__u64 hi = load_be64(a), lo = load_be64(a + 8);
			__u32 p = e->plen6;
			// x & ~m6: clear the prefix bits.
			if (p >= 128) {
				hi = 0;
				lo = 0;
			} else if (p >= 64) {
				hi = 0;
				if (p > 64)
					lo &= (~0ULL) >> (p - 64);
			} else if (p > 0) {
				hi &= (~0ULL) >> p;
			}
			__u32 s = e->pad, suffix;
			if (s >= 128)
				suffix = 0;
			else if (s >= 64)
				suffix = (__u32)(hi >> (s - 64));
			else if (s == 0)
				suffix = (__u32)lo;
			else
				suffix = (__u32)((lo >> s) | (hi << (64 - s)));
			__u32 v = bpf_htonl(e->n4 | (suffix & ~e->m4));
			// RFC 7915 §5.1: an illegal translated address is dropped.
			if (v4flags(v) & V4_FORBIDDEN)
				return R_FORBIDDEN_ADDRESS;
			*out = v;
			return 0;
		}
	}
	__u8 len = c->pool_len;
	if (len == 0)
		return untranslatable;
	// Under the prefix (its length is a multiple of 8).
#pragma unroll
	for (int i = 0; i < 12; i++) {
		if (i < len / 8 && a[i] != c->pool6[i])
			return untranslatable;
	}
	__u8 b[4];
	if (len == 96) {
		b[0] = a[12]; b[1] = a[13]; b[2] = a[14]; b[3] = a[15];
	} else {
		// RFC 6052 §2.2: bits 64-71 (the u-octet) must be zero.
		if (a[8] != 0)
			return untranslatable;
		switch (len) {
		case 32: b[0] = a[4]; b[1] = a[5]; b[2] = a[6]; b[3] = a[7]; break;
		case 40: b[0] = a[5]; b[1] = a[6]; b[2] = a[7]; b[3] = a[9]; break;
		case 48: b[0] = a[6]; b[1] = a[7]; b[2] = a[9]; b[3] = a[10]; break;
		case 56: b[0] = a[7]; b[1] = a[9]; b[2] = a[10]; b[3] = a[11]; break;
		default: b[0] = a[9]; b[1] = a[10]; b[2] = a[11]; b[3] = a[12]; break;
		}
	}
	__u32 v;
	__builtin_memcpy(&v, b, 4);
	__u32 f = v4flags(v);
	if (f & V4_FORBIDDEN)
		return R_FORBIDDEN_ADDRESS;
	if (f & V4_DENYLISTED)
		return R_DENYLISTED_ADDRESS;
	// RFC 6052 §3.1: the well-known prefix never carries a non-global IPv4 address.
	if (c->well_known && (f & V4_NON_GLOBAL))
		return R_WKP_NON_GLOBAL;
	*out = v;
	return 0;
}

// RFC 7915 §4.1 address translation IPv4 -> IPv6 (as Siit::map46_plain): the forbidden
// check, EAM (RFC 7757 §3.3), then RFC 6052 §2.2 embedding with pool6.
static __always_inline __u32 map46(const struct siit_cfg *c, __u32 a_be, __u32 untranslatable, __u8 *out)
{
	__u32 f = v4flags(a_be);
	if (f & V4_FORBIDDEN)
		return R_FORBIDDEN_ADDRESS;
	if (c->has_eam) {
		struct lpm4 k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, &a_be, 4);
		struct eam4_val *e = bpf_map_lookup_elem(&siit_eam4, &k);
		if (e) {
			__u64 v = bpf_ntohl(a_be) & ~e->m4;
			__u32 s = e->pad;
			__u64 hi = 0, lo = 0;
			if (s >= 128) {
			} else if (s >= 64) {
				if (s - 64 < 64)
					hi = v << (s - 64);
			} else {
				lo = v << s;
				if (s > 32)
					hi = v >> (64 - s);
			}
			hi |= load_be64(e->n6);
			lo |= load_be64(e->n6 + 8);
			store_be64(out, hi);
			store_be64(out + 8, lo);
			return 0;
		}
	}
	__u8 len = c->pool_len;
	if (len == 0)
		return untranslatable;
	if (f & V4_DENYLISTED)
		return R_DENYLISTED_ADDRESS;
	if (c->well_known && (f & V4_NON_GLOBAL))
		return R_WKP_NON_GLOBAL;
	__builtin_memcpy(out, c->pool6, 16);
	__u8 b[4];
	__builtin_memcpy(b, &a_be, 4);
	switch (len) {
	case 32: out[4] = b[0]; out[5] = b[1]; out[6] = b[2]; out[7] = b[3]; break;
	case 40: out[5] = b[0]; out[6] = b[1]; out[7] = b[2]; out[9] = b[3]; break;
	case 48: out[6] = b[0]; out[7] = b[1]; out[9] = b[2]; out[10] = b[3]; break;
	case 56: out[7] = b[0]; out[9] = b[1]; out[10] = b[2]; out[11] = b[3]; break;
	case 64: out[9] = b[0]; out[10] = b[1]; out[11] = b[2]; out[12] = b[3]; break;
	default: out[12] = b[0]; out[13] = b[1]; out[14] = b[2]; out[15] = b[3]; break;
	}
	return 0;
}

// Whether the EAM table covers an IPv4 address (RFC 7757 §4 hairpinning).
static __always_inline int eam_covers4(const struct siit_cfg *c, __u32 a_be)
{
	if (!c->has_eam)
		return 0;
	struct lpm4 k = { .prefixlen = 32 };
	__builtin_memcpy(k.addr, &a_be, 4);
	return bpf_map_lookup_elem(&siit_eam4, &k) != 0;
}

// Whether the kernel would route this packet into the engine's TUN device (the only
// packets the fast path is for). In test mode, every packet is.
static __always_inline int for_engine(struct __sk_buff *skb, const struct siit_cfg *c, struct bpf_fib_lookup *p)
{
	if (c->test_mode)
		return 1;
	p->ifindex = skb->ingress_ifindex;
	long rc = bpf_fib_lookup(skb, p, sizeof(*p), BPF_FIB_LOOKUP_SKIP_NEIGH);
	return (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH || rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) &&
	       p->ifindex == c->punt_ifindex;
}

// The next IPv4 Identification (RFC 7915 §5.1: set by the translator; a per-CPU counter;
// a GSO packet takes one per segment, as the kernel's segmentation numbers them).
static __always_inline __u16 next_id(__u32 segs)
{
	__u32 zero = 0;
	__u32 *last = bpf_map_lookup_elem(&siit_ids, &zero);
	if (!last)
		return 0;
	__u16 id = (__u16)(*last + 1);
	*last += segs;
	return id;
}

// Sends the translated packet: in test mode back to the caller; otherwise to the FIB's
// next hop (`rc` and `p` from the lookup done before the packet was changed).
static __always_inline int send(struct __sk_buff *skb, const struct siit_cfg *c, long rc,
				 struct bpf_fib_lookup *p, __u16 proto)
{
	__u16 eproto = bpf_htons(proto);
	if (bpf_skb_store_bytes(skb, 12, &eproto, 2, 0))
		return TC_ACT_SHOT;
	count(R_FORWARDED);
	if (c->test_mode)
		return TC_ACT_OK;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(p->ifindex, 0, 0, 0);
	if (bpf_skb_store_bytes(skb, 0, p->dmac, 6, 0) || bpf_skb_store_bytes(skb, 6, p->smac, 6, 0))
		return TC_ACT_SHOT;
	return bpf_redirect(p->ifindex, 0);
}

// The FIB lookup of the translated packet (before it is changed): SUCCESS or NO_NEIGH
// out of another device than the engine's, or a punt reason (as a negative number).
static __always_inline long route(struct __sk_buff *skb, const struct siit_cfg *c, struct bpf_fib_lookup *p)
{
	if (c->test_mode)
		return BPF_FIB_LKUP_RET_SUCCESS;
	p->ifindex = skb->ingress_ifindex;
	long rc = bpf_fib_lookup(skb, p, sizeof(*p), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return -R_TOO_BIG;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -R_NO_ROUTE;
	if (p->ifindex == c->punt_ifindex)
		return -R_NO_ROUTE;
	return rc;
}

// IPv6 -> IPv4 (RFC 7915 §5).
static __always_inline int from_v6(struct __sk_buff *skb, const struct siit_cfg *c)
{
	if (pull(skb, ETH_HLEN + 40 + 20))
		return TC_ACT_OK;
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *h = data + ETH_HLEN;
	if ((void *)(h + 40) > end)
		return TC_ACT_OK;
	struct bpf_fib_lookup p = {};
	p.family = AF_INET6;
	p.l4_protocol = h[6];
	__builtin_memcpy(p.ipv6_src, h + 8, 16);
	__builtin_memcpy(p.ipv6_dst, h + 24, 16);
	if (!for_engine(skb, c, &p))
		return TC_ACT_OK;
	if (paused())
		return punt(c, R_RECONFIGURING);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	h = data + ETH_HLEN;
	if ((void *)(h + 40) > end)
		return punt(c, R_MALFORMED);
	if (h[0] >> 4 != 6)
		return punt(c, R_MALFORMED);
	__u32 plen = ((__u32)h[4] << 8) | h[5];
	__u32 len = skb->len - ETH_HLEN;
	if (40 + plen > len)
		return punt(c, R_MALFORMED);
	__u8 ip6[40];
	__builtin_memcpy(ip6, h, 40);
	__u8 nh = ip6[6], hop = ip6[7];
	const __u8 *src6 = ip6 + 8, *dst6 = ip6 + 24;
	if (nh == NH_FRAGMENT)
		return punt(c, R_FRAGMENT);
	if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 50 || nh == 135 || nh == 139 || nh == 140 ||
	    nh == 253 || nh == 254)
		return punt(c, R_EXTENSION_HEADER);
	if (load_be64(dst6) == load_be64(c->own6) && load_be64(dst6 + 8) == load_be64(c->own6 + 8))
		return punt(c, R_TO_TRANSLATOR);
	// RFC 4291 §2.5.6, §2.7: link-local source, interface- or link-local multicast
	// destination (sixgate_core::class::is_link_scoped_v6).
	if ((src6[0] == 0xfe && (src6[1] & 0xc0) == 0x80) || (dst6[0] == 0xff && ((dst6[1] & 0x0f) == 1 || (dst6[1] & 0x0f) == 2)))
		return punt(c, R_LINK_LOCAL);
	if (dst6[0] == 0xff)
		return punt(c, R_FORBIDDEN_ADDRESS);
	// RFC 7915 §5.1: the translator is a router; a hop limit reaching zero gets Time
	// Exceeded (sixgate_core::router::forward_hop), which the engine sends.
	if (hop <= 1)
		return punt(c, R_HOP_LIMIT_EXCEEDED);
	__u32 at; // checksum offset in the transport header
	__u32 min;
	if (nh == IPPROTO_TCP) {
		at = 16;
		min = 20;
	} else if (nh == IPPROTO_UDP) {
		at = 6;
		min = 8;
	} else if (nh == IPPROTO_ICMPV6) {
		at = 2;
		min = 8;
	} else {
		return punt(c, R_UNKNOWN_PROTOCOL);
	}
	if (plen < min)
		return punt(c, R_MALFORMED);
	__u8 *l4 = h + 40;
	if ((void *)(l4 + 8) > end)
		return punt(c, R_MALFORMED);
	__u8 icmp_type = l4[0], icmp_code = l4[1];
	if (nh == IPPROTO_ICMPV6 && icmp_type != 128 && icmp_type != 129)
		return punt(c, R_ICMP_NOT_ECHO);
	__u32 src4, dst4, r;
	r = map64(c, src6, R_UNTRANSLATABLE_SOURCE, &src4);
	if (r)
		return punt(c, r);
	r = map64(c, dst6, R_UNTRANSLATABLE_DESTINATION, &dst4);
	if (r)
		return punt(c, r);
	// RFC 7757 §4: a destination that is itself EAM-mapped goes back to IPv6 (the engine).
	if (eam_covers4(c, dst4))
		return punt(c, R_HAIRPIN);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	l4 = data + ETH_HLEN + 40;
	if ((void *)(l4 + 8) > end)
		return punt(c, R_MALFORMED);
	__u16 hc;
	if (nh == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end)
			return punt(c, R_MALFORMED);
		hc = *(__u16 *)(l4 + 16);
	} else if (nh == IPPROTO_UDP) {
		hc = *(__u16 *)(l4 + 6);
	} else {
		hc = *(__u16 *)(l4 + 2);
	}
	// RFC 8200 §8.1: a zero IPv6 UDP checksum is invalid (the engine drops it).
	if (nh == IPPROTO_UDP && hc == 0)
		return punt(c, R_UDP6_ZERO_CHECKSUM);
	__u32 total = 20 + plen;
	// The size that must fit the next hop: each segment's for a GSO packet.
	__u32 seg_total = total;
	__u32 segs = 1;
	if (skb->gso_segs > 1) {
		__u32 l4h = 8;
		if (nh == IPPROTO_TCP)
			l4h = (__u32)(l4[12] >> 4) * 4;
		seg_total = 20 + l4h + skb->gso_size;
		segs = skb->gso_segs;
		// RFC 7915 §5.1: an IPv4 packet of 1260 bytes or less goes without DF, while
		// segmentation copies DF to every segment: a super-packet whose last segment is
		// that small and the others not is the engine's (it sends that one on its own).
		__u32 payload = plen > l4h ? plen - l4h : 0;
		__u32 gs = skb->gso_size ? skb->gso_size : 1;
		__u32 count = (payload + gs - 1) / gs;
		__u32 last = count ? payload - (count - 1) * gs : 0;
		if (count > 1 && seg_total > 1260 && 20 + l4h + last <= 1260)
			return punt(c, R_GSO_SHORT_TAIL);
	}
	// RFC 7915 §5.1: DF-set packets too big for the IPv4 side get Packet Too Big, DF-clear
	// ones are fragmented: both the engine's.
	if (seg_total > c->ipv4_mtu)
		return punt(c, R_TOO_BIG);
	__u8 tc = ((ip6[0] & 0x0f) << 4) | (ip6[1] >> 4);
	__u8 tos = (tc & c->tos_keep) | c->tos_set;
	// FIB lookup of the packet as it will leave, before anything is changed.
	struct bpf_fib_lookup q = {};
	q.family = AF_INET;
	q.tos = tos;
	q.l4_protocol = nh == IPPROTO_ICMPV6 ? IPPROTO_ICMP : nh;
	q.tot_len = seg_total;
	q.ipv4_src = src4;
	q.ipv4_dst = dst4;
	long rc = route(skb, c, &q);
	if (rc < 0)
		return punt(c, (__u32)(-rc));
	if (skb->len > ETH_HLEN + 40 + plen && bpf_skb_change_tail(skb, ETH_HLEN + 40 + plen, 0))
		return punt(c, R_HELPER_FAILED);
	if (nh == IPPROTO_ICMPV6) {
		// RFC 7915 §5.2: new type; the ICMPv6 pseudo-header (RFC 8200 §8.1) leaves the
		// checksum. Read before the header goes.
		__u8 ph[40];
		__builtin_memcpy(ph, src6, 32);
		ph[32] = 0; ph[33] = 0; ph[34] = plen >> 8; ph[35] = plen;
		ph[36] = 0; ph[37] = 0; ph[38] = 0; ph[39] = IPPROTO_ICMPV6;
		__s64 diff = bpf_csum_diff((__be32 *)ph, 40, 0, 0, 0);
		if (diff < 0 || bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0))
			return punt(c, R_HELPER_FAILED);
		__u32 off = ETH_HLEN + 20;
		__u8 t4 = icmp_type == 128 ? 8 : 0;
		__u16 oldw = bpf_htons(((__u16)icmp_type << 8) | icmp_code);
		__u16 neww = bpf_htons(((__u16)t4 << 8) | icmp_code);
		if (bpf_skb_store_bytes(skb, off, &t4, 1, 0) ||
		    bpf_l4_csum_replace(skb, off + 2, oldw, neww, 2) ||
		    bpf_l4_csum_replace(skb, off + 2, 0, (__u32)diff, BPF_F_PSEUDO_HDR))
			return TC_ACT_SHOT;
	} else {
		// RFC 1624 over the pseudo-header: the IPv6 addresses out, the IPv4 ones in (the
		// length and protocol words are the same sum in both).
		__u32 a4[2] = { src4, dst4 };
		__s64 diff = bpf_csum_diff((__be32 *)src6, 32, a4, 8, 0);
		if (diff < 0 || bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0))
			return punt(c, R_HELPER_FAILED);
		__u64 flags = BPF_F_PSEUDO_HDR | (nh == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
		if (bpf_l4_csum_replace(skb, ETH_HLEN + 20 + at, 0, (__u32)diff, flags))
			return TC_ACT_SHOT;
	}
	// RFC 7915 §5.1: version 4, IHL 5, TOS by policy, DF only above 1260 bytes (so that
	// nothing needs an atomic fragment, RFC 8021), a fresh Identification, TTL one less.
	__u8 v4[20];
	v4[0] = 0x45;
	v4[1] = tos;
	v4[2] = total >> 8;
	v4[3] = total;
	__u16 id = next_id(segs);
	v4[4] = id >> 8;
	v4[5] = id;
	v4[6] = seg_total > 1260 ? 0x40 : 0;
	v4[7] = 0;
	v4[8] = hop - 1;
	v4[9] = nh == IPPROTO_ICMPV6 ? IPPROTO_ICMP : nh;
	v4[10] = 0;
	v4[11] = 0;
	__builtin_memcpy(v4 + 12, &src4, 4);
	__builtin_memcpy(v4 + 16, &dst4, 4);
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 20; i += 2)
		s += ((__u32)v4[i] << 8) | v4[i + 1];
	__u16 sum = ~fold32(s);
	v4[10] = sum >> 8;
	v4[11] = sum;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, v4, 20, BPF_F_RECOMPUTE_CSUM))
		return TC_ACT_SHOT;
	return send(skb, c, rc, &q, ETH_P_IP);
}

// IPv4 -> IPv6 (RFC 7915 §4).
static __always_inline int from_v4(struct __sk_buff *skb, const struct siit_cfg *c)
{
	if (pull(skb, ETH_HLEN + 20 + 20))
		return TC_ACT_OK;
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *h = data + ETH_HLEN;
	if ((void *)(h + 20) > end)
		return TC_ACT_OK;
	struct bpf_fib_lookup p = {};
	p.family = AF_INET;
	p.tos = h[1];
	p.l4_protocol = h[9];
	__builtin_memcpy(&p.ipv4_src, h + 12, 4);
	__builtin_memcpy(&p.ipv4_dst, h + 16, 4);
	if (!for_engine(skb, c, &p))
		return TC_ACT_OK;
	if (paused())
		return punt(c, R_RECONFIGURING);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	h = data + ETH_HLEN;
	if ((void *)(h + 20) > end)
		return punt(c, R_MALFORMED);
	__u32 ihl = h[0] & 0x0f;
	__u32 total = ((__u32)h[2] << 8) | h[3];
	__u32 len = skb->len - ETH_HLEN;
	// sixgate_core::router::accept_ipv4: version, IHL, Total Length within the packet.
	if (h[0] >> 4 != 4 || ihl < 5 || total < ihl * 4 || total > len)
		return punt(c, R_MALFORMED);
	// RFC 1812 §5.2.2: the header checksum verifies (checked over the first 20 bytes
	// only when there are no options; packets with options are the engine's anyway).
	if (ihl != 5)
		return punt(c, R_IPV4_OPTIONS);
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 20; i += 2)
		s += ((__u32)h[i] << 8) | h[i + 1];
	if (fold32(s) != 0xffff)
		return punt(c, R_IPV4_HEADER_CHECKSUM);
	__u8 ttl = h[8], proto = h[9], tos = h[1];
	__u16 frag = ((__u16)h[6] << 8) | h[7];
	__u32 src4, dst4;
	__builtin_memcpy(&src4, h + 12, 4);
	__builtin_memcpy(&dst4, h + 16, 4);
	if (frag & 0x3fff)
		return punt(c, R_FRAGMENT);
	__u32 df = frag & 0x4000;
	if (dst4 == c->own4)
		return punt(c, R_TO_TRANSLATOR);
	// RFC 7915 §4.1: an illegal destination is dropped (is_forbidden_v4).
	if (v4flags(dst4) & V4_FORBIDDEN)
		return punt(c, R_FORBIDDEN_ADDRESS);
	// RFC 7915 §4.1: a TTL reaching zero gets Time Exceeded, from the engine.
	if (ttl <= 1)
		return punt(c, R_TTL_EXCEEDED);
	__u32 at, min;
	if (proto == IPPROTO_TCP) {
		at = 16;
		min = 20;
	} else if (proto == IPPROTO_UDP) {
		at = 6;
		min = 8;
	} else if (proto == IPPROTO_ICMP) {
		at = 2;
		min = 8;
	} else {
		return punt(c, R_UNKNOWN_PROTOCOL);
	}
	__u32 plen = total - 20;
	if (plen < min)
		return punt(c, R_MALFORMED);
	__u8 *l4 = h + 20;
	if ((void *)(l4 + 8) > end)
		return punt(c, R_MALFORMED);
	__u8 icmp_type = l4[0], icmp_code = l4[1];
	if (proto == IPPROTO_ICMP && icmp_type != 8 && icmp_type != 0)
		return punt(c, R_ICMP_NOT_ECHO);
	__u8 src6[16], dst6[16];
	__u32 r = map46(c, src4, R_UNTRANSLATABLE_SOURCE, src6);
	if (r)
		return punt(c, r);
	r = map46(c, dst4, R_UNTRANSLATABLE_DESTINATION, dst6);
	if (r)
		return punt(c, r);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	l4 = data + ETH_HLEN + 20;
	if ((void *)(l4 + 8) > end)
		return punt(c, R_MALFORMED);
	__u16 hc;
	if (proto == IPPROTO_TCP) {
		if ((void *)(l4 + 20) > end)
			return punt(c, R_MALFORMED);
		hc = *(__u16 *)(l4 + 16);
	} else if (proto == IPPROTO_UDP) {
		hc = *(__u16 *)(l4 + 6);
	} else {
		hc = *(__u16 *)(l4 + 2);
	}
	// RFC 7915 §4.5: a zero UDP checksum is computed or refused, by the engine.
	if (proto == IPPROTO_UDP && hc == 0)
		return punt(c, R_UDP_ZERO_CHECKSUM);
	__u32 out_len = 40 + plen;
	__u32 seg_len = out_len;
	if (skb->gso_segs > 1) {
		__u32 l4h = 8;
		if (proto == IPPROTO_TCP)
			l4h = (__u32)(l4[12] >> 4) * 4;
		seg_len = 40 + l4h + skb->gso_size;
	}
	// RFC 7915 §4.1: DF set and too big gets Fragmentation Needed; DF clear and bigger
	// than the lowest IPv6 MTU is fragmented: both the engine's.
	__u32 limit = c->ipv6_mtu;
	if (!df && c->lowest_ipv6_mtu < limit)
		limit = c->lowest_ipv6_mtu;
	if (seg_len > limit)
		return punt(c, R_TOO_BIG);
	__u8 tc = (tos & c->tc_keep) | c->tc_set;
	struct bpf_fib_lookup q = {};
	q.family = AF_INET6;
	q.l4_protocol = proto == IPPROTO_ICMP ? IPPROTO_ICMPV6 : proto;
	q.tot_len = seg_len;
	__builtin_memcpy(q.ipv6_src, src6, 16);
	__builtin_memcpy(q.ipv6_dst, dst6, 16);
	long rc = route(skb, c, &q);
	if (rc < 0)
		return punt(c, (__u32)(-rc));
	// Link-layer padding after Total Length goes (as accept_ipv4 cuts it).
	if (skb->len > ETH_HLEN + total && bpf_skb_change_tail(skb, ETH_HLEN + total, 0))
		return punt(c, R_HELPER_FAILED);
	__u8 nh = proto == IPPROTO_ICMP ? IPPROTO_ICMPV6 : proto;
	if (proto == IPPROTO_ICMP) {
		// RFC 7915 §4.2: new type; the checksum gains the ICMPv6 pseudo-header (RFC 1624).
		__u8 ph[40];
		__builtin_memcpy(ph, src6, 16);
		__builtin_memcpy(ph + 16, dst6, 16);
		ph[32] = 0; ph[33] = 0; ph[34] = plen >> 8; ph[35] = plen;
		ph[36] = 0; ph[37] = 0; ph[38] = 0; ph[39] = IPPROTO_ICMPV6;
		__s64 diff = bpf_csum_diff(0, 0, (__be32 *)ph, 40, 0);
		if (diff < 0 || bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0))
			return punt(c, R_HELPER_FAILED);
		__u32 off = ETH_HLEN + 40;
		__u8 t6 = icmp_type == 8 ? 128 : 129;
		__u16 oldw = bpf_htons(((__u16)icmp_type << 8) | icmp_code);
		__u16 neww = bpf_htons(((__u16)t6 << 8) | icmp_code);
		if (bpf_skb_store_bytes(skb, off, &t6, 1, 0) ||
		    bpf_l4_csum_replace(skb, off + 2, oldw, neww, 2) ||
		    bpf_l4_csum_replace(skb, off + 2, 0, (__u32)diff, BPF_F_PSEUDO_HDR))
			return TC_ACT_SHOT;
	} else {
		__u32 a4[2] = { src4, dst4 };
		__u8 a6[32];
		__builtin_memcpy(a6, src6, 16);
		__builtin_memcpy(a6 + 16, dst6, 16);
		__s64 diff = bpf_csum_diff(a4, 8, (__be32 *)a6, 32, 0);
		if (diff < 0 || bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0))
			return punt(c, R_HELPER_FAILED);
		__u64 flags = BPF_F_PSEUDO_HDR | (proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
		if (bpf_l4_csum_replace(skb, ETH_HLEN + 40 + at, 0, (__u32)diff, flags))
			return TC_ACT_SHOT;
	}
	// RFC 7915 §4.1: version 6, traffic class by policy, flow label 0, payload length,
	// next header, hop limit one less, the mapped addresses.
	__u8 v6[40];
	v6[0] = 0x60 | (tc >> 4);
	v6[1] = (tc & 0x0f) << 4;
	v6[2] = 0;
	v6[3] = 0;
	v6[4] = plen >> 8;
	v6[5] = plen;
	v6[6] = nh;
	v6[7] = ttl - 1;
	__builtin_memcpy(v6 + 8, src6, 16);
	__builtin_memcpy(v6 + 24, dst6, 16);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, v6, 40, BPF_F_RECOMPUTE_CSUM))
		return TC_ACT_SHOT;
	return send(skb, c, rc, &q, ETH_P_IPV6);
}

SEC("classifier")
int sixgate_siit(struct __sk_buff *skb)
{
	__u32 zero = 0;
	const struct siit_cfg *c = bpf_map_lookup_elem(&siit_cfg, &zero);
	if (!c || c->punt_ifindex == 0)
		return TC_ACT_OK;
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return from_v6(skb, c);
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return from_v4(skb, c);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
