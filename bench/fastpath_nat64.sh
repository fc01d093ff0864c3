#!/usr/bin/env bash
# The NAT64 fast path side by side, in one run, on the race's 3-namespace topology
# (bench/lib/netns.sh):
#
#   h6 (2001:db8:6::2) -- veth -- rt [translator] -- veth -- h4 (198.51.100.2)
#
# Contenders: plain kernel IPv4 forwarding (the ceiling), sixgate's TUN gateway, and the same
# gateway with fast_path = "bpf" (the TC program translates in the kernel at the ingress of
# v6b and v4b; the TUN path gets only what it punts). For each: TCP throughput (iperf3,
# h6 -> h4, CPU 0), the highest UDP 64-byte rate at ≤ 1 % loss (trafgen on CPU 0, bisection
# and CPU-per-packet method in bench/lib/udp.sh) with the forwarding CPU per packet, and ping
# RTT (1000 pings 2 ms apart; median and 99th percentile) pinned to CPU 0 and unpinned.
# The gateway process runs on CPU 1 as in the race. Each round starts with the load average.
# Needs root, iperf3, netsniff-ng (trafgen), nftables and a release build of sixgate with the
# programs built in:
#   cargo build --release -p sixgate-cli --features bpf && sudo ROUNDS=3 bench/fastpath_nat64.sh [seconds]
# CONTENDERS (default "kernel sixgate bpf") picks and orders them; ROUNDS (default 1) repeats
# the whole set; [seconds] (default 5) is the TCP run, UDP_T (default 3) each UDP step.
set -euo pipefail
export PARTS=${PARTS:-tcp lat}
RACE_SOURCE=1
# shellcheck source=nat64-race.sh
. "$(dirname "${BASH_SOURCE[0]}")/nat64-race.sh"
trap cleanup EXIT
# shellcheck source=lib/udp.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/udp.sh"

start_bpf() {
    cat > $WORK/bpf.toml <<CFG
tun = "nat64"
pool6 = "2001:db8:64::/96"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8:ff::1"
mtu = 1500
stats_interval = 0
fast_path = "bpf"
fast_path_interfaces = ["v6b", "v4b"]
[[eam]]
ipv6 = "2001:db8:6::/120"
ipv4 = "203.0.113.0/24"
CFG
    ip netns exec $RT taskset -c 1 "$BIN" nat64 run --config $WORK/bpf.toml 2>$WORK/bpf.log &
    PID=$!
    wait_link $RT nat64
    routes_via_tun
    for _ in $(seq 100); do grep -q "fast path: " $WORK/bpf.log && break; sleep 0.05; done
    if ! grep -q "fast path: BPF programs attached" $WORK/bpf.log; then
        echo "the fast path did not start:" >&2; cat $WORK/bpf.log >&2; exit 1
    fi
}

# The gateway's counters line (SIGUSR1), for the fast path's forwarded/punted figures.
counters_line() {
    [ -n "$PID" ] || return 0
    kill -USR1 "$PID"; sleep 0.5
    grep "received=" $WORK/bpf.log | tail -n 1 | grep -o 'fast_path_[a-z_:]*=[0-9]*' | tr '\n' ' '
}

tcp_gbps() { # DST
    ip netns exec $H4 taskset -c 0 iperf3 -s -D -1 >/dev/null; sleep 0.3
    ip netns exec $H6 taskset -c 0 iperf3 -c "$1" -t $T -J 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,2))'
}

UDP_GEN_NS=$H6; UDP_GEN_DEV=v6a; UDP_NH_NS=$RT; UDP_NH_DEV=v6b; UDP_SINK_NS=$H4; UDP_SINK_HDR=28
echo "| round | contender | TCP Gbit/s | UDP 64 B at ≤ 1 % loss | ping RTT median / p99 ms, CPU 0 | unpinned |"
echo "| ---: | --- | ---: | --- | ---: | ---: |"
for round in $(seq "${ROUNDS:-1}"); do
    echo "round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for c in ${CONTENDERS:-kernel sixgate bpf}; do
        topo
        case $c in
            kernel) start_kernel; dst=198.51.100.2; UDP_SRC=203.0.113.2 ;;
            sixgate) start_sixgate; dst=2001:db8:64::c633:6402; UDP_SRC=2001:db8:6::2 ;;
            bpf) start_bpf; dst=2001:db8:64::c633:6402; UDP_SRC=2001:db8:6::2 ;;
        esac
        tcp=$(tcp_gbps $dst)
        udp=$(udp_bisect $dst)
        pinned=$(ping_rtt $H6 $dst 0)
        unpinned=$(ping_rtt $H6 $dst 0,1)
        echo "| $round | $c | $tcp | $udp | $pinned | $unpinned |"
        [ "$c" = bpf ] && echo "  ($(counters_line))"
        if [ -n "$PID" ]; then kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; PID=""; fi
    done
done
