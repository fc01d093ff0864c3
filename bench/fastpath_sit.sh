#!/usr/bin/env bash
# 6in4 side by side, in one run, on one topology:
#   ha (2001:db8:a::2) -- sa [endpoint] == IPv4 10.1.0.0/24 == sb [endpoint] -- hb
# - the kernel's own sit tunnel (when this kernel has the sit module; otherwise plain
#   kernel IPv4 forwarding between the same namespaces over the same links stands as the
#   ceiling),
# - `sixgate tunnel run` on the TUN path (batched loop, TUN GSO/GRO offload),
# - `sixgate tunnel run --fast-path bpf` (the TC-BPF programs carry what they handle).
# For each: TCP throughput (iperf3 ha -> hb, CPU 0) with, for sixgate, the endpoints' process
# CPU time per GB received (utime+stime from /proc: the TUN path's userspace work; the fast
# path's work is in softirq, not in it); the highest UDP 64-byte rate at ≤ 1 % loss (trafgen
# on CPU 0 from ha, counted in hb) with the forwarding CPU per packet (whole-CPU method, see
# bench/lib/udp.sh); ping RTT median / p99 ms, pinned to CPU 0 and unpinned. The endpoints
# run on CPU 1. Each round starts with the load average.
# Needs root, iperf3, netsniff-ng (trafgen), nftables:
#   cargo build --release -p sixgate-cli --features bpf && sudo ROUNDS=3 bench/fastpath_sit.sh [secs]
# ROUNDS (default 1) repeats the whole set, CONTENDERS (default "kernel sixgate bpf") picks
# them; [secs] (default 5) is the TCP run, UDP_T (default 3) each UDP step.
set -euo pipefail
T=${1:-5}
BIN=${SIXGATE:-$(dirname "$0")/../target/release/sixgate}
P=fpsit
NS="ha sa sb hb"
PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    PIDS=
    for n in $NS; do ip netns del $P$n 2>/dev/null || true; done
}
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
# shellcheck source=lib/udp.sh
. "$(dirname "$0")/lib/udp.sh"

topo() {
    cleanup
    for n in $NS; do ip netns add $P$n; ip -n $P$n link set lo up; done
    ip link add e0 netns ${P}ha type veth peer name e6 netns ${P}sa
    ip link add e4 netns ${P}sa type veth peer name e4 netns ${P}sb
    ip link add e6 netns ${P}sb type veth peer name e0 netns ${P}hb
    for l in "ha e0" "sa e6" "sa e4" "sb e4" "sb e6" "hb e0"; do set -- $l; ip -n $P$1 link set $2 up; done
    ip -n ${P}sa addr add 10.1.0.1/24 dev e4; ip -n ${P}sb addr add 10.1.0.2/24 dev e4
    for s in sa sb; do ip netns exec $P$s sysctl -qw net.ipv6.conf.all.forwarding=1; done
    ip -n ${P}ha -6 addr add 2001:db8:a::2/64 dev e0 nodad; ip -n ${P}ha -6 route add default via 2001:db8:a::1
    ip -n ${P}hb -6 addr add 2001:db8:b::2/64 dev e0 nodad; ip -n ${P}hb -6 route add default via 2001:db8:b::1
    ip -n ${P}sa -6 addr add 2001:db8:a::1/64 dev e6 nodad; ip -n ${P}sb -6 addr add 2001:db8:b::1/64 dev e6 nodad
    DST=2001:db8:b::2; UDP_SRC=2001:db8:a::2; UDP_SINK_HDR=48
}

start_sixgate() {  # [extra flags for both endpoints]
    ip netns exec ${P}sa taskset -c 1 "$BIN" tunnel run --tun fpsit0 --local 10.1.0.1 --remote 10.1.0.2 \
        --address 2001:db8:ffff::1/64 --stats-interval 0 "$@" 2>/dev/null &
    PIDS=$!
    ip netns exec ${P}sb taskset -c 1 "$BIN" tunnel run --tun fpsit0 --local 10.1.0.2 --remote 10.1.0.1 \
        --address 2001:db8:ffff::2/64 --stats-interval 0 "$@" 2>/dev/null &
    PIDS="$PIDS $!"
    for s in sa sb; do for _ in $(seq 100); do ip -n $P$s link show fpsit0 >/dev/null 2>&1 && break; sleep 0.05; done; done
    sleep 1
    ip -n ${P}sa -6 route add 2001:db8:b::/48 dev fpsit0; ip -n ${P}sb -6 route add 2001:db8:a::/48 dev fpsit0
}

# The kernel's sit tunnel, or (no sit module) plain IPv4 forwarding; KIND says which.
start_kernel() {
    if ip -n ${P}sa link add ks0 type sit local 10.1.0.1 remote 10.1.0.2 2>/dev/null; then
        ip -n ${P}sb link add ks0 type sit local 10.1.0.2 remote 10.1.0.1
        for s in sa sb; do ip -n $P$s link set ks0 up; done
        ip -n ${P}sa -6 route add 2001:db8:b::/48 dev ks0; ip -n ${P}sb -6 route add 2001:db8:a::/48 dev ks0
        KIND="kernel sit tunnel"
    else
        ip -n ${P}ha addr add 10.2.0.2/24 dev e0; ip -n ${P}ha route add default via 10.2.0.1
        ip -n ${P}hb addr add 10.3.0.2/24 dev e0; ip -n ${P}hb route add default via 10.3.0.1
        ip -n ${P}sa addr add 10.2.0.1/24 dev e6; ip -n ${P}sb addr add 10.3.0.1/24 dev e6
        ip -n ${P}sa route add 10.3.0.0/24 via 10.1.0.2; ip -n ${P}sb route add 10.2.0.0/24 via 10.1.0.1
        for s in sa sb; do ip netns exec $P$s sysctl -qw net.ipv4.ip_forward=1; done
        DST=10.3.0.2; UDP_SRC=10.2.0.2; UDP_SINK_HDR=28
        KIND="kernel IPv4 forwarding (no sit module in this kernel)"
    fi
}

cpu_ticks() {
    local t=0 p f
    for p in $PIDS; do read -r -a f </proc/$p/stat; t=$((t + f[13] + f[14])); done
    echo $t
}

tcp() {  # -> "<Gbit/s> | <endpoints' CPU>"
    ip netns exec ${P}hb taskset -c 0 iperf3 -s -D -1 >/dev/null; sleep 0.3
    local t0 t1 gbps bytes
    t0=$(cpu_ticks)
    read -r gbps bytes <<<"$(ip netns exec ${P}ha taskset -c 0 iperf3 -c $DST -t $T -J 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["end"]["sum_received"]; print(round(r["bits_per_second"]/1e9,2), r["bytes"])')"
    t1=$(cpu_ticks)
    local cpu="-"
    [ -z "$PIDS" ] || cpu="$(python3 -c "print(round(($t1 - $t0) / $(getconf CLK_TCK) / ($bytes / 1e9), 3))") CPU s/GB"
    echo "$gbps | $cpu"
}

measure() {  # round label
    local t u p q
    t=$(tcp); u=$(udp_bisect $DST); p=$(ping_rtt ${P}ha $DST 0); q=$(ping_rtt ${P}ha $DST 0,1)
    echo "| $1 | $2 | $t | $u | $p | $q |"
}

UDP_GEN_NS=${P}ha; UDP_GEN_DEV=e0; UDP_NH_NS=${P}sa; UDP_NH_DEV=e6; UDP_SINK_NS=${P}hb
echo "| round | path | TCP Gbit/s | endpoints' CPU (TCP) | UDP 64 B at ≤ 1 % loss | ping RTT median / p99 ms, CPU 0 | unpinned |"
echo "| ---: | --- | ---: | ---: | --- | ---: | ---: |"
for round in $(seq "${ROUNDS:-1}"); do
    echo "round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for c in ${CONTENDERS:-kernel sixgate bpf}; do
        case $c in
            kernel) topo; start_kernel; measure $round "$KIND" ;;
            sixgate) topo; start_sixgate; measure $round "sixgate 6in4, TUN path (offload, batched)" ;;
            bpf) topo; start_sixgate --fast-path bpf --fast-path-interface e4; measure $round "sixgate 6in4, BPF fast path" ;;
        esac
    done
done
