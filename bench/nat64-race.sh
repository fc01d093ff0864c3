#!/usr/bin/env bash
# The race: sixgate's NAT64 gateway against TAYGA, with plain kernel IPv4 forwarding as the
# ceiling, in one run on the same network-namespace topology:
#
#   h6 (2001:db8:6::2) -- veth -- rt [translator on TUN nat64] -- veth -- h4 (198.51.100.2)
#
# For each contender: TCP throughput (iperf3), the highest UDP packet rate at 64 and 1400
# bytes with at most 1 % loss (trafgen from netsniff-ng as the load generator, bisection over
# its rate; h4 counts and drops the datagrams in nftables), ping latency (median and 99th
# percentile), and the translator's CPU time per packet.
# The translator runs on CPU 1; iperf3, trafgen and the counters on CPU 0 (2-core machine).
# iperf3 is not the UDP generator: at 64 bytes it tops out near 135 k packets/s on one core,
# below the translators, so it measured itself rather than them.
# Needs root, iperf3, netsniff-ng (trafgen), nftables, tayga and a release build of sixgate:
#   cargo build --release -p sixgate-cli && sudo bench/nat64-race.sh [seconds]
# UDP_MAX_PPS (default 1000000) is the top of the bisection; PACING=rate paces trafgen with
# -b (bursts) instead of a fixed gap between packets (smooth, but at most ~100-150 k pps). PARTS (default "tcp udp lat")
# picks the measurements, CONTENDERS (default "sixgate stateful tayga kernel"; also "stateful2": the stateful gateway
# on two queues and both CPUs) the contenders.
set -euo pipefail
T=${1:-5}
PARTS=${PARTS:-tcp udp lat}
BIN=${SIXGATE:-$(dirname "${BASH_SOURCE[0]}")/../target/release/sixgate}
P=race
H6=${P}h6; RT=${P}rt; H4=${P}h4
WORK=$(mktemp -d)
PID=""
cleanup() {
    # The contender still running, by its process id.
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
    netns_cleanup
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=lib/netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
topo() { nat64_topo; }

routes_via_tun() {
    # The same TUN queue for every translator: 5000 packets instead of the default 500, so
    # a scheduling hiccup on a busy 2-core machine does not decide the UDP loss figure.
    ip -n $RT link set nat64 txqueuelen 5000
    ip -n $RT -6 route add 2001:db8:64::/96 dev nat64
    ip -n $RT route add 203.0.113.0/24 dev nat64
    ip -n $RT route add 192.0.2.1/32 dev nat64
    ip -n $RT -6 route add 2001:db8:ff::1/128 dev nat64
}

start_sixgate() {
    cat > $WORK/gw.toml <<CFG
tun = "nat64"
pool6 = "2001:db8:64::/96"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8:ff::1"
mtu = 1500
queues = ${QUEUES:-1}
stats_interval = 0
[[eam]]
ipv6 = "2001:db8:6::/120"
ipv4 = "203.0.113.0/24"
CFG
    # `ip netns exec` and `taskset` exec, so $! is the translator itself.
    ip netns exec $RT taskset -c 1 "$BIN" nat64 run --config $WORK/gw.toml 2>$WORK/gw.log &
    PID=$!
    wait_link $RT nat64
    routes_via_tun
}

start_stateful() {
    cat > $WORK/st.toml <<CFG
tun = "nat64"
mode = "stateful"
pool6 = "2001:db8:64::/96"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8:ff::1"
pool4 = ["192.0.2.2/32 1024-65535"]
mtu = 1500
stats_interval = 0
CFG
    # With SQUEUES=2 the tables are cut into two shards, one worker each, on both CPUs
    # (which the load generator shares).
    local cpus=1
    [ "${SQUEUES:-1}" -gt 1 ] && { echo "queues = $SQUEUES" >> $WORK/st.toml; cpus=0,1; }
    ip netns exec $RT taskset -c $cpus "$BIN" nat64 run --config $WORK/st.toml 2>$WORK/st.log &
    PID=$!
    wait_link $RT nat64
    routes_via_tun
    ip -n $RT route add 192.0.2.2/32 dev nat64
}

start_tayga() {
    mkdir -p $WORK/tayga
    cat > $WORK/tayga.conf <<CFG
tun-device nat64
ipv4-addr 192.0.2.1
ipv6-addr 2001:db8:ff::1
prefix 2001:db8:64::/96
map 203.0.113.2 2001:db8:6::2
data-dir $WORK/tayga
CFG
    ip netns exec $RT tayga -c $WORK/tayga.conf --mktun >/dev/null
    ip -n $RT link set nat64 up mtu 1500
    ip netns exec $RT taskset -c 1 tayga -c $WORK/tayga.conf -d >$WORK/tayga.log 2>&1 &
    PID=$!
    sleep 0.3
    routes_via_tun
}

start_kernel() {
    # The ceiling: the same hosts and links, IPv4 on both, forwarded by the kernel.
    ip -n $H6 addr add 203.0.113.2/24 dev v6a
    ip -n $RT addr add 203.0.113.1/24 dev v6b
    ip -n $H6 route add 198.51.100.0/24 via 203.0.113.1
    PID=""
}

cpu_ticks() { [ -n "$PID" ] && awk '{print $14+$15}' /proc/$PID/stat || echo 0; }

mac_of() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }

# The UDP sink: h4 counts and drops the test datagrams in prerouting (no socket, no ICMP
# back). nft counts skbs, and a translator writing UDP GSO super-packets hands the kernel
# several datagrams in one skb, so datagrams are counted from bytes: each skb is a
# 28-byte IPv4+UDP header plus k payloads of LEN bytes.
sink_setup() {
    ip netns exec $H4 nft add table ip race
    ip netns exec $H4 nft add chain ip race pre '{ type filter hook prerouting priority -300; }'
    ip netns exec $H4 nft add rule ip race pre udp dport 9 counter drop
}
sink_count() { # LEN -> datagrams so far
    ip netns exec $H4 nft -j list chain ip race pre | python3 -c '
import json, sys
n = int(sys.argv[1])
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("rule", {}).get("expr", []):
        if "counter" in e:
            c = e["counter"]; print((c["bytes"] - 28 * c["packets"]) // n)' "$1"
}

# One UDP step: trafgen sends COUNT datagrams of LEN bytes at RATE pps from h6 (CPU 0).
# Prints: offered pps (what trafgen achieved), delivered pps, loss %, translator µs/pkt.
udp_step() {
    local dst=$1 len=$2 rate=$3
    local count=$(( rate * T )) proto
    local smac dmac; smac=$(mac_of $H6 v6a); dmac=$(mac_of $RT v6b)
    if [[ $dst == *:* ]]; then proto="ipv6(sa=2001:db8:6::2, da=$dst, hoplimit=64)"
    else proto="ipv4(sa=203.0.113.2, da=$dst, ttl=64)"; fi
    # Source ports cycle over 8 values so flow hashing and GRO see a few flows, as real
    # traffic would.
    printf '{ eth(sa=%s, da=%s), %s, udp(sp=dinc(1000, 1007), dp=9), fill(0x5a, %d) }\n' \
        "$smac" "$dmac" "$proto" "$len" > $WORK/tg.cfg
    local before; before=$(sink_count $len)
    local c0; c0=$(cpu_ticks)
    local t0; t0=$(date +%s.%N)
    # Paced by a fixed gap between packets (-t): trafgen's -b rate option sends bursts, which
    # at low rates overflowed the TUN queue of a translator slower per packet (TAYGA lost
    # 16 % at 15 k pps with -b and nothing with the same rate as a gap). PACE=0: no pacing
    # at all (the overload step).
    # PACING=rate uses -b instead (bursty: a harder test of the translator's queue).
    local pace=(-t "$(( 1000000000 / rate ))ns")
    [ "${PACING:-gap}" = rate ] && pace=(-b "${rate}pps")
    [ "${PACE:-1}" = 0 ] && pace=()
    ip netns exec $H6 taskset -c 0 trafgen -o v6a -i $WORK/tg.cfg -n $count -P 1 "${pace[@]}" -C >/dev/null 2>&1 || true
    local t1; t1=$(date +%s.%N)
    sleep 0.3
    local c1; c1=$(cpu_ticks)
    local after; after=$(sink_count $len)
    local secs; secs=$(python3 -c "print($t1 - $t0)")
    python3 - "$count" "${secs:-0}" "$before" "$after" "$c0" "$c1" "$(getconf CLK_TCK)" "${PID:-}" <<'PY'
import sys
count, secs, before, after, c0, c1, hz = (float(x) for x in sys.argv[1:8])
pid = sys.argv[8]
secs = max(secs, 1e-3)
got = after - before
loss = max(0.0, 100.0 * (count - got) / count)
us = round((c1 - c0) / hz * 1e6 / max(1, got), 2) if pid else "n/a"
print(round(count / secs), round(got / secs), round(loss, 2), us)
PY
}

measure() {
    local name=$1 dst=$2
    [[ " $PARTS " == *" tcp "* ]] && { ip netns exec $H4 taskset -c 0 iperf3 -s -D -1 --logfile $WORK/srv.log >/dev/null; sleep 0.3; }
    local tcp="-"
    [[ " $PARTS " == *" tcp "* ]] && tcp=$(ip netns exec $H6 taskset -c 0 iperf3 -c $dst -t $T -J 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,2))')
    sink_setup
    local out="" lens=""
    [[ " $PARTS " == *" udp "* ]] && lens="64 1400"
    for len in $lens; do
        # The highest offered rate with at most 1 % loss: a bisection over trafgen's rate.
        local lo=0 hi=${UDP_MAX_PPS:-1000000} best="0 0 0 n/a" gen_limited=""
        for _ in 1 2 3 4 5 6 7 8; do
            local mid=$(( (lo + hi) / 2 ))
            local r; r=$(udp_step "$dst" $len $mid)
            read -r offered got loss us <<<"$r"
            if python3 -c "import sys; sys.exit(0 if float('$loss') <= 1.0 and $got > 0 else 1)"; then
                lo=$mid; best=$r
                # The generator itself could not keep up: the figure is a lower bound.
                if [ "$offered" -lt $(( mid * 95 / 100 )) ]; then gen_limited=" (generator-bound)"; else gen_limited=""; fi
            else
                hi=$mid
            fi
        done
        read -r offered got loss us <<<"$best"
        # Forwarding rate under overload (RFC 2889): the generator's full rate offered; what
        # arrives, and the loss. Unlike the ≤ 1 % figure it does not depend on how fast an
        # idle vCPU wakes up (on this VM, moderate rates can lose more than high ones).
        local sat; sat=$(PACE=0 udp_step "$dst" $len ${UDP_MAX_PPS:-1000000})
        read -r s_off s_got s_loss s_us <<<"$sat"
        out="$out | ${got} pps (${loss}% loss${gen_limited}), ${us} µs CPU/pkt; overload: ${s_got} of ${s_off} pps"
    done
    # Latency: 1000 pings 2 ms apart from CPU 0 (the translator is on CPU 1, so every
    # contender pays the same cross-CPU wake-ups; an unpinned ping made the median bimodal),
    # after a few to warm the neighbour caches; median and 99th percentile of the RTTs.
    local rtt="-"
    [[ " $PARTS " == *" lat "* ]] && ip netns exec $H6 ping -c 3 -i 0.1 $dst >/dev/null 2>&1 || true
    [[ " $PARTS " == *" lat "* ]] && rtt=$(ip netns exec $H6 taskset -c ${PING_CPU:-0} ping -c 1000 -i 0.002 $dst 2>/dev/null | python3 -c '
import re, sys
t = sorted(float(m.group(1)) for m in re.finditer(r"time=([0-9.]+)", sys.stdin.read()))
print(f"{t[len(t)//2]:.3f} / {t[min(len(t)-1, len(t)*99//100)]:.3f}" if t else "n/a")')
    printf '| %-8s | %6s Gbit/s %s | %s ms |\n' "$name" "$tcp" "$out" "$rtt"
}

# Sourced with RACE_SOURCE=1, the script only defines its functions (for poking at one
# contender by hand: topo; start_sixgate; ...).
if [ -n "${RACE_SOURCE:-}" ]; then trap - EXIT; return 0; fi
# CONTENDERS picks and orders them (default: all four).
echo "| contender | TCP | UDP 64 B | UDP 1400 B | ping RTT median / p99 |"
for c in ${CONTENDERS:-sixgate stateful tayga kernel}; do
    topo
    case $c in
        sixgate) start_sixgate; measure sixgate 2001:db8:64::c633:6402 ;;
        stateful) start_stateful; measure "sixgate stateful" 2001:db8:64::c633:6402 ;;
        stateful2) SQUEUES=2 start_stateful; measure "stateful, 2 queues" 2001:db8:64::c633:6402 ;;
        tayga) start_tayga; measure tayga 2001:db8:64::c633:6402 ;;
        kernel) start_kernel; measure kernel 198.51.100.2 ;;
    esac
    if [ -n "$PID" ]; then kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; PID=""; fi
    [ -n "${SHOWLOG:-}" ] && tail -n 3 $WORK/*.log >&2 || true
done
