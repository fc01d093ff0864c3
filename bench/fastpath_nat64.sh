#!/usr/bin/env bash
# The NAT64 fast path side by side, in one run, on the race's 3-namespace topology
# (bench/lib/netns.sh):
#
#   h6 (2001:db8:6::2) -- veth -- rt [translator] -- veth -- h4 (198.51.100.2)
#
# Contenders: plain kernel IPv4 forwarding (the ceiling), sixgate's TUN gateway, and the same
# gateway with fast_path = "bpf" (the TC program translates in the kernel at the ingress of
# v6b and v4b; the TUN path gets only what it punts). For each: TCP throughput (iperf3,
# h6 -> h4) and ping RTT (1000 pings 2 ms apart; median and 99th percentile), with ping
# pinned to CPU 0 and unpinned. The gateway process runs on CPU 1 as in the race.
# Needs root, iperf3 and a release build of sixgate with the programs built in:
#   cargo build --release -p sixgate-cli --features bpf && sudo bench/fastpath_nat64.sh [seconds]
# CONTENDERS (default "kernel sixgate bpf") picks and orders them; ROUNDS (default 1) repeats
# the whole set.
set -euo pipefail
export PARTS=${PARTS:-tcp lat}
RACE_SOURCE=1
# shellcheck source=nat64-race.sh
. "$(dirname "${BASH_SOURCE[0]}")/nat64-race.sh"
trap cleanup EXIT

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

echo "| contender | TCP | ping RTT median / p99 (ping on CPU 0) | unpinned |"
for _ in $(seq "${ROUNDS:-1}"); do
    for c in ${CONTENDERS:-kernel sixgate bpf}; do
        topo
        case $c in
            kernel) start_kernel; dst=198.51.100.2 ;;
            sixgate) start_sixgate; dst=2001:db8:64::c633:6402 ;;
            bpf) start_bpf; dst=2001:db8:64::c633:6402 ;;
        esac
        pinned=$(PING_CPU=0 measure "$c" $dst)
        unpinned=$(PARTS=lat PING_CPU=0,1 measure "$c" $dst | awk -F'|' '{print $(NF-1)}')
        echo "${pinned%|}|${unpinned} |"
        [ "$c" = bpf ] && echo "  ($(counters_line))"
        if [ -n "$PID" ]; then kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; PID=""; fi
    done
done
