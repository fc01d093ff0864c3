#!/usr/bin/env bash
# 6in4 through `sixgate tunnel run` against plain kernel IPv4 forwarding, same topology,
# one run:   ha (2001:db8:a::2) -- sa [endpoint] == IPv4 10.1.0.0/24 == sb [endpoint] -- hb
# TCP throughput (iperf3) and the highest UDP packet rate at <= 1 % loss (bisection), for
# 64- and 1400-byte datagrams. The endpoints run on CPU 1, iperf3 on CPU 0. The tunnel is
# measured twice: the batched loop (default: TUN GSO/GRO offload, recvmmsg/sendmmsg) and
# --no-offload (one packet per syscall). For the tunnel, the TCP column also gives the CPU
# time both endpoints used per GB received (utime+stime from /proc), which depends less on
# the machine's load than the rate does.
# Needs root and iperf3:  cargo build --release -p sixgate-cli && sudo bench/sit-throughput.sh [secs]
set -euo pipefail
T=${1:-3}
BIN=${SIXGATE:-$(dirname "$0")/../target/release/sixgate}
P=sitb
NS="ha sa sb hb"
cleanup() {
    pkill -f "sixgate tunnel run --tun sitb0" 2>/dev/null || true
    for n in $NS; do ip netns del $P$n 2>/dev/null || true; done
}
trap cleanup EXIT

topo() {
    cleanup
    for n in $NS; do ip netns add $P$n; ip -n $P$n link set lo up; done
    ip link add e0 netns ${P}ha type veth peer name e6 netns ${P}sa
    ip link add e4 netns ${P}sa type veth peer name e4 netns ${P}sb
    ip link add e6 netns ${P}sb type veth peer name e0 netns ${P}hb
    for l in "ha e0" "sa e6" "sa e4" "sb e4" "sb e6" "hb e0"; do set -- $l; ip -n $P$1 link set $2 up; done
    ip -n ${P}sa addr add 10.1.0.1/24 dev e4; ip -n ${P}sb addr add 10.1.0.2/24 dev e4
    for s in sa sb; do ip netns exec $P$s sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1; done
}

start_tunnel() {  # [extra flags for both endpoints]
    ip -n ${P}ha -6 addr add 2001:db8:a::2/64 dev e0 nodad; ip -n ${P}ha -6 route add default via 2001:db8:a::1
    ip -n ${P}hb -6 addr add 2001:db8:b::2/64 dev e0 nodad; ip -n ${P}hb -6 route add default via 2001:db8:b::1
    ip -n ${P}sa -6 addr add 2001:db8:a::1/64 dev e6 nodad; ip -n ${P}sb -6 addr add 2001:db8:b::1/64 dev e6 nodad
    # `ip netns exec` and `taskset` exec, so $! is the endpoint itself.
    ip netns exec ${P}sa taskset -c 1 "$BIN" tunnel run --tun sitb0 --local 10.1.0.1 --remote 10.1.0.2 \
        --address 2001:db8:ffff::1/64 --stats-interval 0 "$@" 2>/dev/null &
    PIDS=$!
    ip netns exec ${P}sb taskset -c 1 "$BIN" tunnel run --tun sitb0 --local 10.1.0.2 --remote 10.1.0.1 \
        --address 2001:db8:ffff::2/64 --stats-interval 0 "$@" 2>/dev/null &
    PIDS="$PIDS $!"
    for s in sa sb; do for _ in $(seq 100); do ip -n $P$s link show sitb0 >/dev/null 2>&1 && break; sleep 0.05; done; done
    sleep 0.5
    ip -n ${P}sa -6 route add 2001:db8:b::/48 dev sitb0; ip -n ${P}sb -6 route add 2001:db8:a::/48 dev sitb0
    DST=2001:db8:b::2
}

start_kernel() {
    ip -n ${P}ha addr add 10.2.0.2/24 dev e0; ip -n ${P}ha route add default via 10.2.0.1
    ip -n ${P}hb addr add 10.3.0.2/24 dev e0; ip -n ${P}hb route add default via 10.3.0.1
    ip -n ${P}sa addr add 10.2.0.1/24 dev e6; ip -n ${P}sb addr add 10.3.0.1/24 dev e6
    ip -n ${P}sa route add 10.3.0.0/24 via 10.1.0.2; ip -n ${P}sb route add 10.2.0.0/24 via 10.1.0.1
    DST=10.3.0.2
    PIDS=
}

# utime+stime of the endpoints, in clock ticks.
cpu_ticks() {
    local t=0 p f
    for p in $PIDS; do read -r -a f </proc/$p/stat; t=$((t + f[13] + f[14])); done
    echo $t
}

measure() {
    ip netns exec ${P}hb taskset -c 0 iperf3 -s -D -1 >/dev/null; sleep 0.3
    local tcp t0 t1 gbps bytes
    t0=$(cpu_ticks)
    tcp=$(ip netns exec ${P}ha taskset -c 0 iperf3 -c $DST -t $T -J 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["end"]["sum_received"]; print(round(r["bits_per_second"]/1e9,2), r["bytes"])')
    t1=$(cpu_ticks)
    read -r gbps bytes <<<"$tcp"
    local out="| $1 | $gbps Gbit/s"
    [ -z "$PIDS" ] || out="$out, $(python3 -c "print(round(($t1 - $t0) / $(getconf CLK_TCK) / ($bytes / 1e9), 2))") CPU s/GB"
    for len in 64 1400; do
        local lo=0 hi=400000 best=0
        for _ in 1 2 3 4 5 6 7 8; do
            local mid=$(( (lo + hi) / 2 ))
            ip netns exec ${P}hb taskset -c 0 iperf3 -s -D -1 >/dev/null; sleep 0.2
            local j; j=$(ip netns exec ${P}ha taskset -c 0 iperf3 -u -w 4M -b $(( mid * len * 8 )) -l $len -c $DST -t $T -J 2>/dev/null || true)
            read -r pps loss <<<"$(python3 -c 'import json,sys
try:
    e=json.loads(sys.argv[1])["end"]["sum"]; print(round((e["packets"]-e["lost_packets"])/e["seconds"]), e["lost_percent"])
except Exception: print(0, 100)' "$j")"
            if python3 -c "import sys; sys.exit(0 if float('$loss') <= 1.0 and $pps > 0 else 1)"; then lo=$mid; best=$pps; else hi=$mid; fi
        done
        out="$out | $best pps"
    done
    echo "$out |"
}

echo "| path | TCP | UDP 64 B (≤ 1 % loss) | UDP 1400 B (≤ 1 % loss) |"
echo "| --- | ---: | ---: | ---: |"
topo; start_tunnel; measure "sixgate 6in4 (offload, batched)"
topo; start_tunnel --no-offload; measure "sixgate 6in4 (--no-offload)"
topo; start_kernel; measure "kernel IPv4 forwarding"
