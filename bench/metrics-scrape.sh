#!/usr/bin/env bash
# What a Prometheus scraper costs the data path: the stateful NAT64 gateway (one queue, on
# CPU 1) forwards a fixed-rate UDP stream from h6 to h4 (iperf3, 64-byte datagrams) on the
# topology of bench/nat64-race.sh, with and without a scraper fetching /metrics in a loop as
# fast as it can (curl, on CPU 0). Runs alternate (RUNS rounds of each).
# Reported per run: packets the gateway received, the CPU time of its packet threads (every
# thread but `metrics`) per packet, the CPU time of the `metrics` thread, the scrapes made.
# Needs root, iperf3, curl and a release build:
#   cargo build --release -p sixgate-cli && sudo bench/metrics-scrape.sh [seconds]
# Environment: RATE (datagrams/s, default 50000), RUNS (default 2), SIXGATE (binary),
# PAUSE (seconds between scrapes, default 0: back to back; Prometheus's default is 15).
set -euo pipefail
SECS=${1:-10}
RATE=${RATE:-50000}
RUNS=${RUNS:-2}
PAUSE=${PAUSE:-0}
BIN=${SIXGATE:-$(dirname "$0")/../target/release/sixgate}
P=scrape
H6=${P}h6; RT=${P}rt; H4=${P}h4
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    netns_cleanup
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=lib/netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
TCK=$(getconf CLK_TCK)

# utime+stime (ticks) of PID's threads: "packet metrics".
ticks() {
    local data=0 metrics=0 t
    for t in /proc/"$1"/task/*; do
        local s comm
        s=$(cut -d')' -f2- "$t/stat"); comm=$(cat "$t/comm")
        local n; n=$(echo "$s" | awk '{print $12 + $13}')
        if [ "$comm" = metrics ]; then metrics=$((metrics + n)); else data=$((data + n)); fi
    done
    echo "$data $metrics"
}

run() { # scrape: 0 or 1
    nat64_topo
    cat > "$WORK/st.toml" <<CFG
tun = "nat64"
mode = "stateful"
pool6 = "2001:db8:64::/96"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8:ff::1"
pool4 = ["192.0.2.2/32 1024-65535"]
stats_interval = 0
metrics_listen = "127.0.0.1:9164"
CFG
    ip netns exec "$RT" taskset -c 1 "$BIN" nat64 run --config "$WORK/st.toml" 2>"$WORK/st.log" &
    local gw=$!
    PIDS+=("$gw")
    wait_link "$RT" nat64
    ip -n "$RT" link set nat64 up
    ip -n "$RT" -6 route add 2001:db8:64::/96 dev nat64
    ip -n "$RT" route add 192.0.2.2/32 dev nat64
    ip netns exec "$H4" taskset -c 0 iperf3 -s -1 -D -p 5201 >/dev/null
    sleep 0.5
    local scraper="" scrapes=0
    if [ "$1" = 1 ]; then
        ip netns exec "$RT" taskset -c 0 bash -c \
            'n=0; trap "echo \$n > '"$WORK"'/scrapes; exit" TERM; while :; do curl -s -o /dev/null http://127.0.0.1:9164/metrics; n=$((n+1)); sleep '"$PAUSE"'; done' &
        scraper=$!
        PIDS+=("$scraper")
    fi
    read -r d0 m0 < <(ticks "$gw")
    ip netns exec "$H6" taskset -c 0 iperf3 -c 2001:db8:64::c633:6402 -u -l 64 -b $((RATE * 64 * 8)) \
        -t "$SECS" -p 5201 >/dev/null
    read -r d1 m1 < <(ticks "$gw")
    if [ -n "$scraper" ]; then kill -TERM "$scraper"; wait "$scraper" 2>/dev/null || true; scrapes=$(cat "$WORK/scrapes"); fi
    local rx
    rx=$(ip netns exec "$RT" curl -s http://127.0.0.1:9164/metrics | awk '/^sixgate_nat64_received_total/ {s += $2} END {print s}')
    kill -TERM "$gw"; wait "$gw" 2>/dev/null || true
    awk -v rx="$rx" -v d=$((d1 - d0)) -v m=$((m1 - m0)) -v tck="$TCK" -v sc="$scrapes" -v s="$1" 'BEGIN {
        printf "scraper %-3s received %9d  packet threads %6.3f s = %6.0f ns/packet  metrics thread %5.2f s  scrapes %d\n",
            (s ? "on" : "off"), rx, d / tck, d / tck / rx * 1e9, m / tck, sc }'
}

for _ in $(seq "$RUNS"); do run 0; run 1; done
