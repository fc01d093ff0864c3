#!/usr/bin/env bash
# The stateful NAT64 gateway under a flood of new flows, two builds in one run, on the
# topology of bench/nat64-race.sh:
#
#   h6 (2001:db8:6::2) -- veth -- rt [sixgate nat64 run, stateful, TUN nat64] -- veth -- h4 (198.51.100.2)
#
# For each build, in turn (RUNS rounds, the builds alternating, so a busy moment of the
# shared machine does not fall on one of them only):
#   1. an iperf3 TCP flow from h6 to h4 through the gateway, paced at TCP_RATE, runs for
#      FLOOD + 6 s; it is established 2 s before the flood starts;
#   2. the flood: trafgen sends RATE packets/s for FLOOD s, alternately a TCP SYN and a UDP
#      datagram, each from a new IPv6 source address (2001:db8:7::/64, routed back to h6)
#      and a random port, to h4's port 9, where nftables drops them (no answers);
#   3. ping from h6 to h4 through the gateway, 100 a second during the flood.
# Reported: the TCP flow's throughput and retransmissions during the flood (from iperf3's
# JSON intervals) and before it, ping loss and RTT (median / 99th percentile), the
# gateway's RSS before the flood, at its peak (VmHWM) and 5 s after, the TUN's rx/tx
# dropped counters during the flood (packets the kernel dropped that the gateway never
# saw), and the gateway's final counters (in $OUT/NAME-RUN.log).
# The gateway runs on CPU 1; trafgen, iperf3 and ping on CPU 0 (2-core machine).
#
# Needs root, iperf3, netsniff-ng (trafgen), nftables and release builds:
#   sudo bench/nat64-flood.sh NAME=BINARY [NAME=BINARY ...]
# e.g. sudo bench/nat64-flood.sh before=/tmp/sixgate-main after=target/release/sixgate
# trafgen paces with -b (in bursts: its -t gap between packets tops out near 12 k pps here).
# Environment: FLOOD (s, default 15), RATE (pps, default 200000), TCP_RATE (default 200M),
# RUNS (default 2), POOL4 (default "192.0.2.0/24": the table fills to max_sessions; a
# single address, "192.0.2.2/32", exhausts the pool instead), EXTRA (TOML lines added to
# the gateway's configuration), OUT (directory for logs, default a temporary one).
set -euo pipefail
FLOOD=${FLOOD:-15}
RATE=${RATE:-200000}
TCP_RATE=${TCP_RATE:-200M}
RUNS=${RUNS:-2}
POOL4=${POOL4:-192.0.2.0/24}
P=flood
H6=${P}h6; RT=${P}rt; H4=${P}h4
WORK=$(mktemp -d)
OUT=${OUT:-$WORK}
mkdir -p "$OUT"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    netns_cleanup
    [ "$OUT" = "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=lib/netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"
topo() {
    nat64_topo
    # The flood's sources live behind h6, which drops what comes back to them.
    ip -n $RT -6 route add 2001:db8:7::/64 via 2001:db8:6::2
    # h4 drops the flood before any socket sees it: no SYN+ACK, RST or ICMP back.
    ip netns exec $H4 nft add table ip flood
    ip netns exec $H4 nft add chain ip flood pre '{ type filter hook prerouting priority -300; }'
    ip netns exec $H4 nft add rule ip flood pre tcp dport 9 drop
    ip netns exec $H4 nft add rule ip flood pre udp dport 9 drop
}

start_gateway() { # BINARY
    cat > $WORK/gw.toml <<CFG
tun = "nat64"
mode = "stateful"
pool6 = "2001:db8:64::/96"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8:ff::1"
pool4 = ["$POOL4"]
mtu = 1500
stats_interval = 0
${EXTRA:-}
CFG
    ip netns exec $RT taskset -c 1 "$1" nat64 run --config $WORK/gw.toml 2>$WORK/gw.log &
    GW=$!
    PIDS+=("$GW")
    wait_link $RT nat64
    ip -n $RT -6 route add 2001:db8:64::/96 dev nat64
    ip -n $RT route add "$POOL4" dev nat64 2>/dev/null || ip -n $RT route add 192.0.2.0/24 dev nat64
    ip -n $RT -6 route add 2001:db8:ff::1/128 dev nat64
}

mac_of() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
tun_drops() { ip -n $RT -s -j link show nat64 | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["stats64"]
print(s["rx"]["dropped"], s["tx"]["dropped"])'; }
rss() { awk -v k="$2:" '$1 == k {print int($2 / 1024)}' /proc/$1/status; }

one() { # NAME BINARY RUN
    local name=$1 bin=$2 run=$3
    topo
    start_gateway "$bin"
    # The gateway's own process (ip netns exec execs it, so $GW is it).
    ip netns exec $H6 ping -c 3 -i 0.1 2001:db8:64::c633:6402 >/dev/null 2>&1 || true
    ip netns exec $H4 taskset -c 0 iperf3 -s -1 >/dev/null 2>&1 &
    PIDS+=("$!")
    sleep 0.3
    ip netns exec $H6 taskset -c 0 iperf3 -c 2001:db8:64::c633:6402 -t $((FLOOD + 6)) -b "$TCP_RATE" -i 1 -J \
        >$WORK/iperf.json 2>/dev/null &
    local ip3=$!
    PIDS+=("$ip3")
    sleep 2
    local rss0 d0
    rss0=$(rss $GW VmRSS); d0=$(tun_drops)
    local smac dmac; smac=$(mac_of $H6 v6a); dmac=$(mac_of $RT v6b)
    cat > $WORK/tg.cfg <<TG
{ eth(sa=$smac, da=$dmac), ipv6(sa=2001:db8:7::1:0:0, sa=dinc(), da=2001:db8:64::c633:6402, hoplimit=64), tcp(sp=drnd(1024, 65535), dp=9, syn) }
{ eth(sa=$smac, da=$dmac), ipv6(sa=2001:db8:7::2:0:0, sa=dinc(), da=2001:db8:64::c633:6402, hoplimit=64), udp(sp=drnd(1024, 65535), dp=9), fill(0x5a, 18) }
TG
    ip netns exec $H6 taskset -c 0 ping -i 0.01 -c $((FLOOD * 100)) 2001:db8:64::c633:6402 >$WORK/ping.txt 2>&1 &
    local pg=$!
    PIDS+=("$pg")
    local t0; t0=$(date +%s.%N)
    ip netns exec $H6 taskset -c 0 trafgen -o v6a -i $WORK/tg.cfg -n $((RATE * FLOOD)) -P 1 -b "${RATE}pps" \
        >/dev/null 2>&1 || true
    local t1; t1=$(date +%s.%N)
    local d1; d1=$(tun_drops)
    local hwm; hwm=$(rss $GW VmHWM)
    wait $pg || true
    wait $ip3 || true
    sleep 3
    local rss1; rss1=$(rss $GW VmRSS)
    kill -INT $GW 2>/dev/null || true
    wait $GW 2>/dev/null || true
    cp $WORK/gw.log "$OUT/$name-$run.log"
    cp $WORK/iperf.json "$OUT/$name-$run-iperf.json"
    python3 - "$name" "$run" "$t0" "$t1" "$FLOOD" "$rss0" "$hwm" "$rss1" "$d0" "$d1" "$WORK/ping.txt" "$WORK/iperf.json" "$RATE" <<'PY'
import json, re, sys
name, run, t0, t1, flood = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
rss0, hwm, rss1 = sys.argv[6:9]
d0, d1 = [int(x) for x in sys.argv[9].split()], [int(x) for x in sys.argv[10].split()]
ping = open(sys.argv[11]).read()
rate = int(sys.argv[13])
sent = re.search(r"(\d+) packets transmitted, (\d+) received", ping)
loss = 100.0 * (1 - int(sent.group(2)) / max(1, int(sent.group(1)))) if sent else float("nan")
rtt = sorted(float(m.group(1)) for m in re.finditer(r"time=([0-9.]+)", ping))
med = f"{rtt[len(rtt)//2]:.2f}" if rtt else "-"
p99 = f"{rtt[min(len(rtt)-1, len(rtt)*99//100)]:.2f}" if rtt else "-"
try:
    iv = json.load(open(sys.argv[12]))["intervals"]
    def window(a, b):
        xs = [i["sum"] for i in iv if a <= i["sum"]["start"] < b]
        bps = sum(x["bits_per_second"] for x in xs) / max(1, len(xs))
        rx = sum(x.get("retransmits", 0) for x in xs)
        return bps / 1e6, rx
    pre, pre_rx = window(0, 2)
    dur, dur_rx = window(2, 2 + flood)
except Exception:
    pre = pre_rx = dur = dur_rx = float("nan")
offered = rate * flood / max(1e-3, t1 - t0)
print(f"| {name} #{run} | {offered/1e3:.0f} k | {pre:.0f} → {dur:.0f} Mbit/s, {dur_rx} retr. | "
      f"{loss:.1f} % | {med} / {p99} ms | {rss0} / {hwm} / {rss1} MiB | {d1[0]-d0[0]} / {d1[1]-d0[1]} |")
PY
    for n in $H6 $RT $H4; do ip netns del $n 2>/dev/null || true; done
}

[ $# -ge 1 ] || { echo "usage: $0 NAME=BINARY [NAME=BINARY ...]" >&2; exit 2; }
echo "flood: $RATE pps for $FLOOD s (SYN + UDP, new sources), pool4 $POOL4; TCP flow at $TCP_RATE; ping 100/s"
echo "| build | flood offered (pps) | TCP flow before → during flood | ping loss | ping RTT median / p99 | gateway RSS before / peak / after | TUN rx / tx dropped |"
echo "|---|---|---|---|---|---|---|"
for run in $(seq "$RUNS"); do
    for spec in "$@"; do
        one "${spec%%=*}" "${spec#*=}" "$run"
    done
done
