#!/usr/bin/env bash
# The race: sixgate's NAT64 gateway against TAYGA, with plain kernel IPv4 forwarding as the
# ceiling, in one run on the same network-namespace topology:
#
#   h6 (2001:db8:6::2) -- veth -- rt [translator on TUN nat64] -- veth -- h4 (198.51.100.2)
#
# For each contender: TCP throughput (iperf3, 5 s), UDP packets per second at 64 and 1400
# bytes with loss (iperf3 -b 0), ping latency, and the translator's CPU time per packet.
# The translator runs on CPU 1, the iperf3 client and server on CPU 0 (2-core machine).
# Needs root, iperf3, tayga and a release build of sixgate:
#   cargo build --release -p sixgate-cli && sudo bench/nat64-race.sh [seconds]
set -euo pipefail
T=${1:-5}
BIN=${SIXGATE:-$(dirname "$0")/../target/release/sixgate}
P=race
H6=${P}h6; RT=${P}rt; H4=${P}h4
WORK=$(mktemp -d)
cleanup() {
    pkill -f "sixgate nat64 run --config $WORK" 2>/dev/null || true
    pkill -f "tayga -c $WORK" 2>/dev/null || true
    pkill -f "sixgate nat64 run --config $WORK/st.toml" 2>/dev/null || true
    for n in $H6 $RT $H4; do ip netns del $n 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

topo() {
    for n in $H6 $RT $H4; do ip netns del $n 2>/dev/null || true; ip netns add $n; ip -n $n link set lo up; done
    ip link add v6a netns $H6 type veth peer name v6b netns $RT
    ip link add v4a netns $H4 type veth peer name v4b netns $RT
    ip -n $H6 -6 addr add 2001:db8:6::2/64 dev v6a nodad; ip -n $H6 link set v6a up
    ip -n $H6 -6 route add 2001:db8:64::/96 via 2001:db8:6::1
    ip -n $RT -6 addr add 2001:db8:6::1/64 dev v6b nodad; ip -n $RT link set v6b up
    ip -n $RT addr add 198.51.100.1/24 dev v4b; ip -n $RT link set v4b up
    ip netns exec $RT sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip -n $H4 addr add 198.51.100.2/24 dev v4a; ip -n $H4 link set v4a up
    ip -n $H4 route add 203.0.113.0/24 via 198.51.100.1
    ip -n $H4 route add 192.0.2.0/24 via 198.51.100.1
}

routes_via_tun() {
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
    ip netns exec $RT taskset -c 1 "$BIN" nat64 run --config $WORK/gw.toml 2>$WORK/gw.log &
    for _ in $(seq 100); do ip -n $RT link show nat64 >/dev/null 2>&1 && break; sleep 0.05; done
    routes_via_tun
    PID=$(pgrep -f "sixgate nat64 run --config $WORK" | head -1)
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
    ip netns exec $RT taskset -c 1 "$BIN" nat64 run --config $WORK/st.toml 2>$WORK/st.log &
    for _ in $(seq 100); do ip -n $RT link show nat64 >/dev/null 2>&1 && break; sleep 0.05; done
    routes_via_tun
    ip -n $RT route add 192.0.2.2/32 dev nat64
    PID=$(pgrep -f "sixgate nat64 run --config $WORK/st.toml" | head -1)
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
    sleep 0.3
    routes_via_tun
    PID=$(pgrep -f "tayga -c $WORK" | head -1)
}

start_kernel() {
    # The ceiling: the same hosts and links, IPv4 on both, forwarded by the kernel.
    ip -n $H6 addr add 203.0.113.2/24 dev v6a
    ip -n $RT addr add 203.0.113.1/24 dev v6b
    ip -n $H6 route add 198.51.100.0/24 via 203.0.113.1
    PID=""
}

cpu_ticks() { [ -n "$PID" ] && awk '{print $14+$15}' /proc/$PID/stat || echo 0; }

measure() {
    local name=$1 dst=$2
    ip netns exec $H4 taskset -c 0 iperf3 -s -D -1 --logfile $WORK/srv.log >/dev/null; sleep 0.3
    local tcp
    tcp=$(ip netns exec $H6 taskset -c 0 iperf3 -c $dst -t $T -J 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,2))')
    local out=""
    for len in 64 1400; do
        # The highest rate with at most 1 % loss: a bisection over iperf3's target rate.
        local lo=0 hi=400000 best_pps=0 best_loss=0 best_us="n/a"
        for _ in 1 2 3 4 5 6 7 8; do
            local mid=$(( (lo + hi) / 2 ))
            ip netns exec $H4 taskset -c 0 iperf3 -s -D -1 --logfile $WORK/srv.log >/dev/null; sleep 0.2
            local c0; c0=$(cpu_ticks)
            local j; j=$(ip netns exec $H6 taskset -c 0 iperf3 -u -w 4M -b $(( mid * len * 8 )) -l $len -c $dst -t $T -J 2>/dev/null || true)
            local c1; c1=$(cpu_ticks)
            local r; r=$(python3 -c 'import json,sys
try:
    e=json.loads(sys.argv[1])["end"]["sum"]; print(round((e["packets"]-e["lost_packets"])/e["seconds"]), e["lost_percent"], e["packets"])
except Exception: print(0, 100, 0)' "$j")
            read -r pps loss sent <<<"$r"
            if python3 -c "import sys; sys.exit(0 if float('$loss') <= 1.0 and $sent > 0 else 1)"; then
                lo=$mid; best_pps=$pps; best_loss=$loss
                if [ -n "$PID" ]; then best_us=$(python3 -c "print(round(($c1-$c0)/$(getconf CLK_TCK)*1e6/max(1,$sent),2))"); fi
            else
                hi=$mid
            fi
        done
        out="$out | ${best_pps} pps (${best_loss}% loss), ${best_us} µs CPU/pkt"
    done
    local rtt
    rtt=$(ip netns exec $H6 ping -c 200 -i 0.005 -q $dst 2>/dev/null | awk -F/ '/rtt/ {print $5}')
    printf '| %-8s | %6s Gbit/s %s | %s ms |\n' "$name" "$tcp" "$out" "$rtt"
}

# CONTENDERS picks and orders them (default: all four).
echo "| contender | TCP | UDP 64 B | UDP 1400 B | ping RTT avg |"
for c in ${CONTENDERS:-sixgate stateful tayga kernel}; do
    topo
    case $c in
        sixgate) start_sixgate; measure sixgate 2001:db8:64::c633:6402 ;;
        stateful) start_stateful; measure "sixgate stateful" 2001:db8:64::c633:6402 ;;
        tayga) start_tayga; measure tayga 2001:db8:64::c633:6402 ;;
        kernel) start_kernel; measure kernel 198.51.100.2 ;;
    esac
    if [ -n "$PID" ]; then kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; fi
done
