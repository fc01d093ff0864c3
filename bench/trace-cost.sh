#!/bin/bash
# Instructions per packet of the gateway's worker thread (callgrind, deterministic under
# load): the stateless gateway in a namespace of its own drops N UDP datagrams from an
# address it cannot translate (1 ms apart, so the TUN queue never overflows). Per packet =
# (Ir(N2) - Ir(N1)) / (received(N2) - received(N1)), which cancels start and stop.
#   sudo bench/trace-cost.sh BINARY N OUTDIR      # prints the received count and the Ir
#                                                 # of each thread (the worker: the largest)
set -eu
BIN=$1; N=$2; OUT=$3
NS=sgcg$$
mkdir -p "$OUT"
ip netns add $NS; ip -n $NS link set lo up
trap 'ip netns del $NS 2>/dev/null || true' EXIT
cat > "$OUT/gw.toml" <<CFG
tun = "nat64"
pool6 = "64:ff9b::/96"
ipv4 = "192.0.2.1"
stats_interval = 0
offload = false
CFG
ip netns exec $NS valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/cg.out" \
  "$BIN" nat64 run --config "$OUT/gw.toml" 2>"$OUT/gw.log" &
PID=$!
for i in $(seq 200); do ip -n $NS link show nat64 >/dev/null 2>&1 && grep -q "translating on" "$OUT/gw.log" && break; sleep 0.1; done
ip -n $NS link set nat64 up
ip -n $NS -6 addr add 2001:db8:1::1/64 dev nat64 nodad
ip -n $NS -6 route add 64:ff9b::/96 dev nat64
ip netns exec $NS python3 -c "
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range($N):
    s.sendto(b'x' * 20, ('64:ff9b::c000:202', 9))
    time.sleep(0.001)
"
sleep 1
kill -TERM $PID; wait $PID || true
grep -o "final counters: received=[0-9]*" "$OUT/gw.log" | tail -1
for f in "$OUT"/cg.out*; do echo "$f $(grep -m1 '^summary\|^totals' "$f")"; done
