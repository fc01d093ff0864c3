# Packets for the differential SIIT test (netns_tayga_diff.rs): run in the host namespace of
# one topology, it sends every case on one veth (v6a: the IPv6 side, v4a: the IPv4 side),
# collects what arrives on both (the translated packet on the far side, errors the translator
# or the router originate on the near side) and prints each received packet field by field:
#   case <TAB> iface#n <TAB> field <TAB> value
# The host namespace has no addresses, so its kernel never answers what it receives.
import logging
import select
import socket
import sys
import time

logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import *  # noqa: E402,F401,F403
from scapy.layers.inet6 import *  # noqa: E402,F401,F403

H6 = '2001:db8:6::2'  # the IPv6 host; 203.0.113.2 through the EAM / map
H6_4 = '203.0.113.2'
H4 = '198.51.100.2'  # the IPv4 host; 2001:db8:64::c633:6402 under the /96
H4_6 = '2001:db8:64::c633:6402'
R4 = '198.51.100.254'  # a router on the IPv4 side (its IPv6 view under the /96)
R6 = '2001:db8:6::fe'  # a router on the IPv6 side, inside the EAM / map (203.0.113.254)
R6_UNMAPPED = '2001:db8:7::1'  # a router on the IPv6 side no mapping covers
XLAT4 = '192.0.2.1'  # the translator's own addresses
XLAT6 = '2001:db8:64::c000:201'
HAIRPIN6 = '2001:db8:64::cb00:7102'  # 203.0.113.2 under the /96: back into IPv6
MAC = {'v6a': '02:00:00:00:06:0a', 'v6b': '02:00:00:00:06:0b', 'v4a': '02:00:00:00:04:0a', 'v4b': '02:00:00:00:04:0b'}
PEER = {'v6a': 'v6b', 'v4a': 'v4b'}
ETH_P_ALL = 3
PACKET_OUTGOING = 4


def pl(n, seed=0):
    return bytes((i * 7 + seed) % 251 for i in range(n))


def ext4884(extra=0):
    # RFC 4884 §7: extension header (version 2) and one Interface Information object
    # (RFC 5837, class 2) carrying an ifIndex (and `extra` more bytes of it).
    obj = struct.pack('!HBB', 8 + extra, 2, 0x08) + struct.pack('!I', 7) + pl(extra, 9)
    hdr = b'\x20\x00\x00\x00' + obj
    c = checksum(hdr)
    return b'\x20\x00' + struct.pack('!H', c) + obj


def padded(inner, n=128):
    # The "original datagram" of an RFC 4884 message: cut or zero-padded to `n` bytes (§5.1).
    b = bytes(inner)
    return b[:n] + bytes(max(0, n - len(b)))


# The packet an IPv6-side router complains about: H4 → H6, as translated (hop limit spent).
def inner6(n=40):
    return IPv6(src=H4_6, dst=H6, hlim=1) / UDP(sport=2000, dport=1000) / pl(n, 3)


# The packet an IPv4-side router complains about: H6 → H4, as translated.
def inner4(n=40):
    return IP(src=H6_4, dst=H4, ttl=1, id=0, flags='DF') / UDP(sport=1000, dport=2000) / pl(n, 5)


def v6(**kw):
    return IPv6(src=kw.pop('src', H6), dst=kw.pop('dst', H4_6), **kw)


def v4(**kw):
    kw.setdefault('flags', 'DF')
    kw.setdefault('id', 0x4242)
    return IP(src=kw.pop('src', H4), dst=kw.pop('dst', H6_4), **kw)


def udp6(n=64, **kw):
    return v6(**kw) / UDP(sport=1000, dport=2000) / pl(n)


def udp4(n=64, **kw):
    return v4(**kw) / UDP(sport=2000, dport=1000) / pl(n, 1)


CASES = []


def case(name, iface, *pkts):
    CASES.append((name, iface, list(pkts)))


# ---- IPv6 → IPv4 ----
case('6to4-udp', 'v6a', udp6())
case('6to4-tcp', 'v6a', v6() / TCP(sport=1001, dport=80, seq=12345, flags='S', window=8192,
                                 options=[('MSS', 1440), ('SAckOK', b''), ('WScale', 7)]) / pl(20))
case('6to4-echo', 'v6a', v6() / ICMPv6EchoRequest(id=0x1234, seq=7, data=pl(56)))
case('6to4-echo-reply', 'v6a', v6() / ICMPv6EchoReply(id=0x1235, seq=8, data=pl(24)))
case('6to4-echo-fragments', 'v6a', *fragment6(v6() / IPv6ExtHdrFragment(id=0x0e0e0e0e) / ICMPv6EchoRequest(id=0x1236, seq=9, data=pl(2000)), 1280))
case('6to4-unknown-next-header', 'v6a', v6(nh=253) / pl(16))
case('6to4-esp-after-fragment', 'v6a', v6() / IPv6ExtHdrFragment(id=8, offset=0, m=0, nh=50) / pl(24))
case('6to4-echo-own-address', 'v6a', v6(dst=XLAT6) / ICMPv6EchoRequest(id=0x99, seq=1, data=pl(16)))
case('6to4-traffic-class', 'v6a', udp6(tc=0xb9, fl=0x12345))
case('6to4-hop-limit-1', 'v6a', udp6(hlim=1))
case('6to4-hop-limit-2', 'v6a', udp6(hlim=2))
case('6to4-hop-limit-3', 'v6a', udp6(hlim=3))
case('6to4-size-1260', 'v6a', udp6(n=1260 - 28))  # IPv4 1240: DF clear (RFC 7915 §5.1)
case('6to4-size-1300', 'v6a', udp6(n=1300 - 48))  # IPv4 1280: DF set
case('6to4-size-1500', 'v6a', udp6(n=1500 - 48))
case('6to4-fragments', 'v6a', *fragment6(v6() / IPv6ExtHdrFragment(id=0xabcd1234) / UDP(sport=1000, dport=2000) / pl(2000), 1280))
case('6to4-atomic-fragment', 'v6a', v6() / IPv6ExtHdrFragment(id=0x11112222, offset=0, m=0) / UDP(sport=1000, dport=2000) / pl(32))
case('6to4-fragment-1500', 'v6a',
     v6() / IPv6ExtHdrFragment(id=0x5555aaaa, offset=0, m=1) / UDP(sport=1000, dport=2000, len=3008, chksum=0x1234) / pl(1500 - 56))
case('6to4-udp-zero-checksum', 'v6a', v6() / UDP(sport=1000, dport=2000, chksum=0) / pl(16))
case('6to4-hop-by-hop', 'v6a', v6() / IPv6ExtHdrHopByHop(options=[PadN(optdata=b'\x00' * 4)]) / UDP(sport=1000, dport=2000) / pl(24))
case('6to4-destination-options', 'v6a', v6() / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\x00' * 4)]) / UDP(sport=1000, dport=2000) / pl(24))
case('6to4-hbh-dstopts-routing0', 'v6a', v6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[H4_6]) / UDP(sport=1000, dport=2000) / pl(24))
case('6to4-routing-segments-left-1', 'v6a', v6() / IPv6ExtHdrRouting(type=0, segleft=1, addresses=[H4_6]) / UDP(sport=1000, dport=2000) / pl(24))
case('6to4-routing-segments-left-1-after-dstopts', 'v6a', v6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(type=0, segleft=1, addresses=[H4_6]) / UDP(sport=1000, dport=2000) / pl(24))
case('6to4-extension-after-fragment', 'v6a', v6() / IPv6ExtHdrFragment(id=7, offset=0, m=0) / IPv6ExtHdrDestOpt() / UDP(sport=1000, dport=2000) / pl(24))
case('6to4-ah-after-fragment', 'v6a', v6() / IPv6ExtHdrFragment(id=8, offset=0, m=0) / AH(nh=17, spi=1, seq=1, icv=b'\0' * 12) / UDP(sport=1000, dport=2000) / pl(24))
case('6to4-esp-after-fragment', 'v6a', v6() / IPv6ExtHdrFragment(id=9, offset=0, m=0) / ESP(spi=1, seq=1, data=b'\0' * 24))
case('6to4-payload-length-0', 'v6a', v6(plen=0, nh=59))
case('6to4-no-next-header', 'v6a', v6(nh=59) / pl(8))
case('6to4-unknown-icmpv6', 'v6a', v6() / ICMPv6Unknown(type=200, code=0, msgbody=b'12345678'))
case('6to4-unmapped-source', 'v6a', udp6(src='2001:db8:99::1'))
case('6to4-hairpin', 'v6a', udp6(dst=HAIRPIN6))
case('6to4-hairpin-hop-limit-2', 'v6a', udp6(dst=HAIRPIN6, hlim=2))
# ICMPv6 errors from a router on the IPv6 side, about a packet H4 sent to H6.
case('6to4-err-time-exceeded', 'v6a', v6(src=R6) / ICMPv6TimeExceeded(code=0) / inner6())
case('6to4-err-time-exceeded-reassembly', 'v6a', v6(src=R6) / ICMPv6TimeExceeded(code=1) / inner6())
for code in range(0, 7):
    case(f'6to4-err-unreach-{code}', 'v6a', v6(src=R6) / ICMPv6DestUnreach(code=code) / inner6())
case('6to4-err-packet-too-big-1400', 'v6a', v6(src=R6) / ICMPv6PacketTooBig(mtu=1400) / inner6())
case('6to4-err-packet-too-big-1280', 'v6a', v6(src=R6) / ICMPv6PacketTooBig(mtu=1280) / inner6())
case('6to4-err-packet-too-big-9000', 'v6a', v6(src=R6) / ICMPv6PacketTooBig(mtu=9000) / inner6())
for ptr in (0, 1, 4, 6, 7, 8, 24, 40):
    case(f'6to4-err-param-problem-ptr-{ptr}', 'v6a', v6(src=R6) / ICMPv6ParamProblem(code=0, ptr=ptr) / inner6())
case('6to4-err-param-problem-next-header', 'v6a', v6(src=R6) / ICMPv6ParamProblem(code=1, ptr=6) / inner6())
case('6to4-err-param-problem-option', 'v6a', v6(src=R6) / ICMPv6ParamProblem(code=2, ptr=42) / inner6())
case('6to4-err-quoting-echo', 'v6a', v6(src=R6) / ICMPv6TimeExceeded() /
     IPv6(src=H4_6, dst=H6, hlim=1) / ICMPv6EchoReply(id=0x1234, seq=7, data=pl(24)))
case('6to4-err-quoting-fragment', 'v6a', v6(src=R6) / ICMPv6TimeExceeded() /
     IPv6(src=H4_6, dst=H6, hlim=1) / IPv6ExtHdrFragment(id=0x01020304, offset=0, m=1) / UDP(sport=2000, dport=1000, len=2008) / pl(40))
case('6to4-err-in-atomic-fragment', 'v6a', v6(src=R6) / IPv6ExtHdrFragment(id=0x77778888, offset=0, m=0) / ICMPv6TimeExceeded() / inner6())
case('6to4-fragment-1400', 'v6a',
     v6() / IPv6ExtHdrFragment(id=0x5555aaab, offset=0, m=1) / UDP(sport=1000, dport=2000, len=3008, chksum=0x1234) / pl(1400 - 56))
case('6to4-err-unmapped-router', 'v6a', v6(src=R6_UNMAPPED) / ICMPv6TimeExceeded() / inner6())
case('6to4-err-rfc4884', 'v6a', v6(src=R6) / ICMPv6TimeExceeded(length=16) / padded(inner6(n=60)) / ext4884())
case('6to4-err-rfc4884-short-quote', 'v6a', v6(src=R6) / ICMPv6DestUnreach(code=4, length=16) / padded(inner6(n=20)) / ext4884())
# Translated, these exceed 576 bytes: the quote must shrink, the extension stay (RFC 4884 §5.1).
case('6to4-err-rfc4884-too-big', 'v6a', v6(src=R6) / ICMPv6DestUnreach(code=4, length=75) / padded(inner6(n=600), 600) / ext4884())
case('6to4-err-large-quote', 'v6a', v6(src=R6) / ICMPv6DestUnreach(code=4) / inner6(n=1180))
case('6to4-err-bad-inner-checksum', 'v6a', v6(src=R6) / ICMPv6DestUnreach(code=4) /
     IPv6(src=H4_6, dst=H6, hlim=1) / UDP(sport=2000, dport=1000, chksum=0x1111) / pl(20))

# ---- IPv4 → IPv6 ----
case('4to6-udp', 'v4a', udp4())
case('4to6-tcp', 'v4a', v4() / TCP(sport=80, dport=1001, seq=999, ack=12346, flags='SA', window=4096,
                                 options=[('MSS', 1460), ('NOP', None), ('WScale', 7)]) / pl(20))
case('4to6-echo', 'v4a', v4() / ICMP(type=8, id=0x4321, seq=9) / pl(56))
case('4to6-echo-reply', 'v4a', v4() / ICMP(type=0, id=0x4322, seq=10) / pl(24))
case('4to6-echo-fragments', 'v4a', *fragment(v4(flags=0, id=0x0f0f) / ICMP(type=8, id=0x4323, seq=11) / pl(1800), 600))
case('4to6-unknown-protocol', 'v4a', v4(proto=253) / pl(16))
case('4to6-echo-own-address', 'v4a', v4(dst=XLAT4) / ICMP(type=8, id=0x77, seq=1) / pl(16))
case('4to6-tos', 'v4a', udp4(tos=0xb9))
case('4to6-ttl-1', 'v4a', udp4(ttl=1))
case('4to6-ttl-2', 'v4a', udp4(ttl=2))
case('4to6-ttl-3', 'v4a', udp4(ttl=3))
case('4to6-no-df', 'v4a', udp4(flags=0))
case('4to6-df-1500', 'v4a', udp4(n=1500 - 28))
case('4to6-no-df-1500', 'v4a', udp4(n=1500 - 28, flags=0))
case('4to6-no-df-1261', 'v4a', udp4(n=1261 - 28, flags=0))
case('4to6-fragments', 'v4a', *fragment(v4(flags=0, id=0x6789) / UDP(sport=2000, dport=1000) / pl(1800), 600))
case('4to6-fragment-1500', 'v4a', v4(flags='MF', id=0x2222, frag=0) / UDP(sport=2000, dport=1000, len=3008, chksum=0x3333) / pl(1500 - 28))
case('4to6-udp-zero-checksum', 'v4a', v4() / UDP(sport=2000, dport=1000, chksum=0) / pl(16))
case('4to6-udp-zero-checksum-fragment', 'v4a', v4(flags='MF', id=0x3131) / UDP(sport=2000, dport=1000, len=1008, chksum=0) / pl(32))
case('4to6-options-rr', 'v4a', v4(options=[IPOption_RR(length=11, routers=['0.0.0.0', '0.0.0.0'])]) / UDP(sport=2000, dport=1000) / pl(24))
case('4to6-options-nop-eol', 'v4a', v4(options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]) / UDP(sport=2000, dport=1000) / pl(24))
case('4to6-options-lsrr-unexpired', 'v4a', v4(options=[IPOption_LSRR(routers=['203.0.113.9'], pointer=4)]) / UDP(sport=2000, dport=1000) / pl(24))
case('4to6-options-lsrr-expired', 'v4a', v4(options=[IPOption_LSRR(routers=['203.0.113.9'], pointer=8)]) / UDP(sport=2000, dport=1000) / pl(24))
case('4to6-unknown-icmp', 'v4a', v4() / ICMP(type=13, id=1, seq=1))
case('4to6-protocol-59', 'v4a', v4(proto=59) / pl(8))
# ICMPv4 errors from a router on the IPv4 side, about a packet H6 sent to H4.
case('4to6-err-time-exceeded', 'v4a', v4(src=R4) / ICMP(type=11, code=0) / inner4())
case('4to6-err-time-exceeded-reassembly', 'v4a', v4(src=R4) / ICMP(type=11, code=1) / inner4())
for code in range(0, 16):
    if code == 4:
        continue
    case(f'4to6-err-unreach-{code}', 'v4a', v4(src=R4) / ICMP(type=3, code=code) / inner4())
case('4to6-err-frag-needed-1400', 'v4a', v4(src=R4) / ICMP(type=3, code=4, nexthopmtu=1400) / inner4())
case('4to6-err-frag-needed-1000', 'v4a', v4(src=R4) / ICMP(type=3, code=4, nexthopmtu=1000) / inner4())
case('4to6-err-frag-needed-0', 'v4a', v4(src=R4) / ICMP(type=3, code=4, nexthopmtu=0) / inner4(n=1300))
for ptr in (0, 1, 2, 8, 9, 12, 16, 20):
    case(f'4to6-err-param-problem-ptr-{ptr}', 'v4a', v4(src=R4) / ICMP(type=12, code=0, ptr=ptr) / inner4())
case('4to6-err-param-problem-bad-length', 'v4a', v4(src=R4) / ICMP(type=12, code=2) / inner4())
case('4to6-err-source-quench', 'v4a', v4(src=R4) / ICMP(type=4) / inner4())
case('4to6-err-redirect', 'v4a', v4(src=R4) / ICMP(type=5, code=1, gw='198.51.100.9') / inner4())
case('4to6-err-quoting-echo', 'v4a', v4(src=R4) / ICMP(type=11) / IP(src=H6_4, dst=H4, ttl=1) / ICMP(type=0, id=0x1234, seq=7) / pl(24))
case('4to6-err-quoting-fragment', 'v4a', v4(src=R4) / ICMP(type=11) /
     IP(src=H6_4, dst=H4, ttl=1, flags='MF', id=0x0102) / UDP(sport=1000, dport=2000, len=2008) / pl(40))
case('4to6-err-rfc4884', 'v4a', v4(src=R4) / ICMP(type=11, code=0, length=32) / padded(inner4(n=60)) / ext4884())
case('4to6-err-rfc4884-unreach', 'v4a', v4(src=R4) / ICMP(type=3, code=1, length=32) / padded(inner4(n=20)) / ext4884())
# Translated, this exceeds 1280 bytes: the quote must shrink, the extension stay (RFC 4884 §5.1).
case('4to6-err-rfc4884-too-big', 'v4a', v4(src=R4) / ICMP(type=3, code=1, length=255) / padded(inner4(n=1100), 1020) / ext4884(240))
case('4to6-err-large-quote', 'v4a', v4(src=R4) / ICMP(type=3, code=1) / inner4(n=540))
case('4to6-err-quote-with-options', 'v4a', v4(src=R4) / ICMP(type=11) /
     IP(src=H6_4, dst=H4, ttl=1, options=[IPOption_NOP()] * 4) / UDP(sport=1000, dport=2000) / pl(24))


socks = {}
for ifn in ('v6a', 'v4a'):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifn, 0))
    s.setblocking(False)
    socks[ifn] = s


def send(ifn, pkt):
    t = 0x86dd if ifn == 'v6a' else 0x0800
    socks[ifn].send(bytes(Ether(src=MAC[ifn], dst=MAC[PEER[ifn]], type=t) / pkt))


def noise(raw):
    et = int.from_bytes(raw[12:14], 'big')
    if et not in (0x0800, 0x86dd):
        return True
    p = Ether(raw)
    for layer in p.layers():
        n = layer.__name__
        if n.startswith('ICMPv6ND') or n.startswith('ICMPv6ML') or n.startswith('ICMPv6MLD') or 'RouterSolicitation' in n:
            return True
    return False


PROBE = b'end-of-case probe'


def probe(ifn):
    # Crosses the translator after the case's packets: once it is out on the far side, the
    # translator has handled everything sent before it.
    if ifn == 'v6a':
        return v6() / UDP(sport=9, dport=9) / PROBE
    return v4() / UDP(sport=9, dport=9) / PROBE


def receive(until_probe, settle=0.05, limit=5.0):
    # What arrives, until the probe has arrived (then `settle` more seconds, for errors
    # still on their way back) or `limit` seconds have passed.
    got, seen = [], False
    end = time.time() + limit
    while True:
        left = end - time.time()
        if left <= 0:
            return got, seen
        r, _, _ = select.select(list(socks.values()), [], [], left)
        for ifn, s in socks.items():
            if s not in r:
                continue
            while True:
                try:
                    raw, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or noise(raw):
                    continue
                if raw.endswith(PROBE):
                    seen = True
                    if until_probe:
                        end = min(end, time.time() + settle)
                    continue
                got.append((ifn, raw))


def fmt(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return '[' + ','.join(fmt(x) if isinstance(x, (bytes, list, tuple)) else (x.summary() + ':' + bytes(x).hex() if isinstance(x, Packet) else repr(x)) for x in v) + ']'
    if isinstance(v, Packet):
        return bytes(v).hex()
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return str(v)


def fold(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(int.from_bytes(b[i:i + 2], 'big') for i in range(0, len(b), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def header_ok(layer):
    # An IPv4 header (outer or quoted) sums to 0xffff over its own bytes.
    b = bytes(layer)[:layer.ihl * 4]
    return fold(b) == 0xffff


def transport_ok(ip):
    # The first transport checksum of an unfragmented packet, over the raw bytes: ones'
    # complement sum with the pseudo-header (ICMPv4: none) is 0xffff.
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        total = int.from_bytes(ip[2:4], 'big')
        proto, body = ip[9], ip[ihl:total]
        pseudo = ip[12:20] + bytes([0, proto]) + len(body).to_bytes(2, 'big')
        if proto == 1:
            pseudo = b''
    else:
        nh, off = ip[6], 40
        end = 40 + int.from_bytes(ip[4:6], 'big')
        while nh in (0, 43, 60):
            nh, off = ip[off], off + (ip[off + 1] + 1) * 8
        proto, body = nh, ip[off:end]
        pseudo = ip[8:40] + len(body).to_bytes(4, 'big') + bytes([0, 0, 0, proto])
    if proto == 17 and ip[0] >> 4 == 4 and body[6:8] == b'\0\0':
        return 'zero'
    return fold(pseudo + body) == 0xffff


TRANSPORT = ('UDP', 'TCP', 'ICMP')


def describe(raw):
    p = Ether(raw).payload
    ipraw = raw[14:]
    out = [('length', len(ipraw))]
    # Only the outer header counts: a quoted fragment inside an error does not make the
    # error's own checksum unverifiable.
    if isinstance(p, IP):
        fragmented = bool(p.flags.MF or p.frag)
    else:
        fragmented, h = False, p.payload
        while isinstance(h, (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, IPv6ExtHdrFragment)):
            if isinstance(h, IPv6ExtHdrFragment):
                fragmented = bool(h.m or h.offset)
            h = h.payload
    layer = p
    i = 0
    first_transport = True
    while layer is not None and not isinstance(layer, NoPayload):
        cls = layer.__class__
        name = cls.__name__
        key = f'{i}.{name}'
        transport = name in TRANSPORT or name.startswith('ICMPv6')
        for f in cls.fields_desc:
            if isinstance(f, ConditionalField) and not f._evalcond(layer):
                continue
            v = layer.getfieldval(f.name)
            if v is None:
                continue
            if name in ('IP', 'IPerror') and f.name == 'chksum':
                out.append((key + '.chksum-valid', header_ok(layer)))
                continue
            if transport and first_transport and not fragmented and f.name in ('chksum', 'cksum'):
                out.append((key + '.checksum-valid', transport_ok(ipraw)))
                continue
            out.append((key + '.' + f.name, fmt(v)))
        if transport:
            first_transport = False
        i += 1
        layer = layer.payload
    return out


# Warm-up: both directions reach the far side.
for ifn in ('v6a', 'v4a'):
    deadline = time.time() + 10
    while True:
        send(ifn, probe(ifn))
        if receive(True, 0.05, 0.3)[1]:
            break
        if time.time() > deadline:
            print(f'warm-up from {ifn}: nothing crosses the translator', file=sys.stderr)
            sys.exit(1)
receive(False, limit=0.2)

only = set(sys.argv[1:])
for name, ifn, pkts in CASES:
    if only and name not in only:
        continue
    for p in pkts:
        send(ifn, p)
    send(ifn, probe(ifn))
    got, seen = receive(True)
    if not seen:
        print(f'{name}: the probe never came through', file=sys.stderr)
    print(f'{name}\t-\tcount\t{len(got)}')
    seen = {}
    for gifn, raw in got:
        k = seen.get(gifn, 0)
        seen[gifn] = k + 1
        for f, v in describe(raw):
            print(f'{name}\t{gifn}#{k}\t{f}\t{fmt(v) if not isinstance(v, str) else v}')
sys.stdout.flush()
