# UDP 64-byte forwarding rate at ≤ 1 % loss (trafgen, after the bisection of bench/nat64-race.sh),
# the forwarding CPU per packet, and ping RTT, for any of the bench topologies.
#
# Set before calling (WORK is a scratch directory):
#   UDP_GEN_NS  UDP_GEN_DEV   where trafgen sends from (pinned to CPU 0)
#   UDP_NH_NS   UDP_NH_DEV    the next hop's namespace and device (its MAC is the frames' destination)
#   UDP_SRC                   the source address (same family as the destination)
#   UDP_SINK_NS UDP_SINK_HDR  where the datagrams arrive, counted and dropped in nftables at
#                             prerouting, and their L3+UDP header length there (28 IPv4, 48 IPv6)
#
# CPU per packet: with the fast path (and with kernel forwarding) the work is done in softirq,
# charged to no process, so it is read from /proc/stat. trafgen runs on CPU 0; the gateway or
# endpoints on CPU 1. The forwarding CPU of a step is all non-idle, non-steal time of CPU 1
# plus the irq and softirq time of CPU 0 (where the packets trafgen sends are received and,
# for the kernel and the fast path, forwarded), minus the same sum measured over one idle second
# before the bisection (other load on the machine), divided by the datagrams delivered. It
# leaves out trafgen's own user and system time (building and sending the frames); it includes
# the sink's nftables drop, which is the same for every contender. This kernel has no
# CONFIG_IRQ_TIME_ACCOUNTING, so the figures are tick samples (USER_HZ): a step must run
# long enough (UDP_T seconds, default 3) for the count to mean something.

udp_ticks() { # forwarding ticks so far: CPU 1 busy + CPU 0 irq/softirq
    awk '/^cpu0 /{a=$7+$8} /^cpu1 /{b=$2+$3+$4+$7+$8} END{print a+b}' /proc/stat
}

udp_mac() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }

udp_sink_setup() {
    ip netns exec "$UDP_SINK_NS" nft delete table inet fpudp 2>/dev/null || true
    ip netns exec "$UDP_SINK_NS" nft add table inet fpudp
    ip netns exec "$UDP_SINK_NS" nft add chain inet fpudp pre '{ type filter hook prerouting priority -300; }'
    ip netns exec "$UDP_SINK_NS" nft add rule inet fpudp pre udp dport 9 counter drop
}

# Datagrams of LEN payload bytes counted so far (from bytes: a GRO'd or GSO skb is one
# header and several payloads).
udp_sink_count() { # LEN
    ip netns exec "$UDP_SINK_NS" nft -j list chain inet fpudp pre | python3 -c '
import json, sys
n, h = int(sys.argv[1]), int(sys.argv[2])
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("rule", {}).get("expr", []):
        if "counter" in e:
            c = e["counter"]; print((c["bytes"] - h * c["packets"]) // n)' "$1" "$UDP_SINK_HDR"
}

# One step of UDP_T seconds (default 3): trafgen sends datagrams of LEN bytes at RATE pps (a
# fixed gap between packets), or as fast as it can with RATE 0; it is stopped with SIGINT
# after UDP_T (+2 s when paced) and what it sent is read from its own count.
# Prints: offered pps, delivered pps, loss %, forwarding µs CPU per delivered datagram.
udp_step() { # DST LEN RATE
    local dst=$1 len=$2 rate=$3 t=${UDP_T:-3} proto pace=() lim count
    if [ "$rate" -gt 0 ]; then
        count=$(( rate * t )); pace=(-t "$(( 1000000000 / rate ))ns"); lim=$(( t + 2 ))
    else
        count=1000000000; lim=$t
    fi
    if [[ $dst == *:* ]]; then proto="ipv6(sa=$UDP_SRC, da=$dst, hoplimit=64)"
    else proto="ipv4(sa=$UDP_SRC, da=$dst, ttl=64)"; fi
    # Source ports cycle over 8 values, so flow hashing and GRO see a few flows.
    printf '{ eth(sa=%s, da=%s), %s, udp(sp=dinc(1000, 1007), dp=9), fill(0x5a, %d) }\n' \
        "$(udp_mac "$UDP_GEN_NS" "$UDP_GEN_DEV")" "$(udp_mac "$UDP_NH_NS" "$UDP_NH_DEV")" "$proto" "$len" > "$WORK/tg.cfg"
    local before c0 t0 t1 c1 after sent
    before=$(udp_sink_count "$len"); c0=$(udp_ticks); t0=$(date +%s.%N)
    sent=$(ip netns exec "$UDP_GEN_NS" timeout -s INT $lim taskset -c 0 trafgen -o "$UDP_GEN_DEV" \
        -i "$WORK/tg.cfg" -n $count -P 1 "${pace[@]}" -C 2>&1 | tr '\r' '\n' | awk '/packets outgoing/{print $1}')
    t1=$(date +%s.%N); sleep 0.3; c1=$(udp_ticks); after=$(udp_sink_count "$len")
    python3 - "${sent:-0}" "$t0" "$t1" "$before" "$after" "$c0" "$c1" "$(getconf CLK_TCK)" "$UDP_BASE" <<'PY'
import sys
sent, t0, t1, before, after, c0, c1, hz, base = (float(x) for x in sys.argv[1:10])
secs = max(t1 - t0, 1e-3)
got = after - before
loss = max(0.0, 100.0 * (sent - got) / max(1, sent))
ticks = max(0.0, (c1 - c0) - base * (secs + 0.3))
print(round(sent / secs), round(got / secs), round(loss, 2), round(ticks / hz * 1e6 / max(1, got), 2))
PY
}

# The highest rate with ≤ 1 % loss. First trafgen unpaced (its full rate on one CPU; for
# the kernel and the fast path the forwarding runs in softirq on that same CPU, so it slows
# the generator instead of dropping): if that loses ≤ 1 %, the figure is that rate and a lower
# bound (generator-bound). Otherwise a 6-step bisection of the paced rate below it.
# Prints "<delivered> pps (<loss>% loss[, generator-bound]), <µs> µs CPU/pkt; unpaced: <got> of <offered> pps".
udp_bisect() { # DST
    local dst=$1 best genb="" r offered got loss us mid s_off s_got s_loss s_us
    udp_sink_setup
    local b0; b0=$(udp_ticks); sleep 1; UDP_BASE=$(( $(udp_ticks) - b0 ))
    r=$(udp_step "$dst" 64 0)
    read -r s_off s_got s_loss s_us <<<"$r"
    if python3 -c "import sys; sys.exit(0 if float('$s_loss') <= 1.0 and $s_got > 0 else 1)"; then
        best=$r; genb=", generator-bound"
    else
        local lo=0 hi=$s_off; best="0 0 0 n/a"
        for _ in 1 2 3 4 5 6; do
            mid=$(( (lo + hi) / 2 ))
            r=$(udp_step "$dst" 64 $mid)
            read -r offered got loss us <<<"$r"
            if python3 -c "import sys; sys.exit(0 if float('$loss') <= 1.0 and $got > 0 else 1)"; then
                lo=$mid; best=$r
                if [ "$offered" -lt $(( mid * 95 / 100 )) ]; then genb=", generator-bound"; else genb=""; fi
            else
                hi=$mid
            fi
        done
    fi
    read -r offered got loss us <<<"$best"
    echo "$got pps ($loss% loss$genb), $us µs CPU/pkt; unpaced: $s_got of $s_off pps, $s_us µs; idle base $UDP_BASE ticks/s"
}

# ping RTT: 1000 pings 2 ms apart from NS on CPUS, after 3 to warm the neighbour caches.
# Prints "median / p99" in ms.
ping_rtt() { # NS DST CPUS
    ip netns exec "$1" ping -c 3 -i 0.1 "$2" >/dev/null 2>&1 || true
    ip netns exec "$1" taskset -c "$3" ping -c 1000 -i 0.002 "$2" 2>/dev/null | python3 -c '
import re, sys
t = sorted(float(m.group(1)) for m in re.finditer(r"time=([0-9.]+)", sys.stdin.read()))
print(f"{t[len(t)//2]:.3f} / {t[min(len(t)-1, len(t)*99//100)]:.3f}" if t else "n/a")'
}
