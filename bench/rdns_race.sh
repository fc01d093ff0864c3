#!/usr/bin/env bash
# The race: synthesized PTR answers per second, `sixgate rdns serve` against Knot DNS's
# `synthrecord` module, in one run, for the same configuration (the reverse zone of
# 2001:db8:1::/64 and of 192.0.2.0/24, names under example.net) and the same query file.
#
# Each server gets one worker thread pinned to CPU 1; dnsperf (one thread) runs on CPU 0 and
# sends PTR queries for random addresses of the /64 (and a fifth for the /24) over UDP on
# loopback. The contenders alternate for ROUNDS rounds (default 3) so that a load change on
# the machine hits both; the table gives each round and the median.
# Needs knot, dnsperf and a release build of sixgate:
#   cargo build --release -p sixgate-cli && bench/rdns_race.sh [seconds per run, default 10]
# CLIENTS (default 8) and INFLIGHT (default 200) are dnsperf's -c and -q.
set -euo pipefail
T=${1:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-8}
INFLIGHT=${INFLIGHT:-200}
BIN=${SIXGATE:-$(dirname "${BASH_SOURCE[0]}")/../target/release/sixgate}
KNOTD=${KNOTD:-$(command -v knotd || echo /usr/sbin/knotd)}
for t in "$BIN" "$KNOTD" "$(command -v dnsperf)"; do
    [ -x "$t" ] || { echo "missing: $t (cargo build --release -p sixgate-cli; apt-get install knot dnsperf)" >&2; exit 2; }
done
WORK=$(mktemp -d)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
PORT_K=$((20000 + RANDOM % 10000)); PORT_S=$((PORT_K + 1))
APEX6=0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.

# 10,000 distinct PTR questions: 8,000 in the /64, 2,000 in the /24.
python3 - "$WORK/queries" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(10000):
        if i % 5 == 4:
            f.write(f"{random.randrange(256)}.2.0.192.in-addr.arpa. PTR\n")
        else:
            host = random.getrandbits(64)
            nibbles = ".".join(f"{(host >> (4 * k)) & 0xf:x}" for k in range(16))
            f.write(f"{nibbles}.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR\n")
PY

SOA='@ SOA ns1.example.net. hostmaster.example.net. 2026010100 86400 7200 3600000 3600
@ NS ns1.example.net.'
printf '$ORIGIN %s\n$TTL 3600\n%s\n' "$APEX6" "$SOA" > "$WORK/z6"
printf '$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 3600\n%s\n' "$SOA" > "$WORK/z4"
printf '$ORIGIN example.net.\n$TTL 3600\n%s\n' "$SOA" > "$WORK/fwd"
cat > "$WORK/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT_K
    rundir: $WORK
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: error
database:
    storage: $WORK/db
mod-synthrecord:
  - id: rev6
    type: reverse
    prefix: host-
    origin: example.net
    network: 2001:db8:1::/64
    ttl: 3600
  - id: rev4
    type: reverse
    prefix: v4-
    origin: example.net
    network: 192.0.2.0/24
    ttl: 3600
  - id: fwd6
    type: forward
    prefix: host-
    network: 2001:db8:1::/64
    ttl: 3600
  - id: fwd4
    type: forward
    prefix: v4-
    network: 192.0.2.0/24
    ttl: 3600
zone:
  - domain: $APEX6
    file: $WORK/z6
    module: mod-synthrecord/rev6
  - domain: 2.0.192.in-addr.arpa.
    file: $WORK/z4
    module: mod-synthrecord/rev4
  - domain: example.net.
    file: $WORK/fwd
    module: [mod-synthrecord/fwd6, mod-synthrecord/fwd4]
CONF
cat > "$WORK/rdns.toml" <<CONF
listen = "127.0.0.1:$PORT_S"
domain = "example.net."
ns = ["ns1.example.net."]
hostmaster = "hostmaster@example.net"
serial = 2026010100
workers = 1

[[prefix]]
net = "2001:db8:1::/64"
template = "host-{dashed}"

[[prefix]]
net = "192.0.2.0/24"
template = "v4-{dashed}"
CONF

wait_up() {
    for _ in $(seq 50); do
        dig +norec +time=1 +tries=1 -p "$1" @127.0.0.1 "$APEX6" SOA 2>/dev/null | grep -q "status: NOERROR" && return 0
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2; exit 1
}

# run NAME PORT: one dnsperf run against the server on PORT; prints "qps latency_ms lost".
run() {
    local out
    out=$(taskset -c 0 dnsperf -s 127.0.0.1 -p "$2" -d "$WORK/queries" -l "$T" -c "$CLIENTS" -q "$INFLIGHT" -T 1 2>&1)
    local qps lat lost
    qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' <<<"$out")
    lat=$(sed -n 's/.*Average Latency (s): *\([0-9.]*\).*/\1/p' <<<"$out")
    lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' <<<"$out")
    # A wrong answer would be an RCODE other than NOERROR.
    grep -q "NOERROR" <<<"$out" || { echo "$1: no NOERROR answers: $out" >&2; exit 1; }
    if grep -Eq "(SERVFAIL|NXDOMAIN|REFUSED|FORMERR) " <<<"$out"; then echo "$1: error answers: $out" >&2; exit 1; fi
    awk -v q="$qps" -v l="$lat" -v n="$lost" 'BEGIN { printf "%.0f %.3f %d\n", q, l * 1000, n }'
}

start_knot() { taskset -c 1 "$KNOTD" -c "$WORK/knot.conf" 2>"$WORK/knot.log" & PID=$!; wait_up "$PORT_K"; }
start_sixgate() { taskset -c 1 "$BIN" rdns serve --config "$WORK/rdns.toml" 2>"$WORK/sixgate.log" & PID=$!; wait_up "$PORT_S"; }
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# The answers agree before anything is timed.
start_knot
K=$(dig +norec +short -p "$PORT_K" @127.0.0.1 -x 2001:db8:1::4:abcd)
stop
start_sixgate
S=$(dig +norec +short -p "$PORT_S" @127.0.0.1 -x 2001:db8:1::4:abcd)
stop
[ "$K" = "$S" ] || { echo "answers differ: knot $K, sixgate $S" >&2; exit 1; }

declare -a KQ SQ KL SL
echo "round  contender  queries/s  avg latency (ms)  lost"
for r in $(seq "$ROUNDS"); do
    start_knot; read -r q l n < <(run knot "$PORT_K"); stop
    KQ+=("$q"); KL+=("$l"); printf "%5d  %-9s  %9d  %16s  %4d\n" "$r" knot "$q" "$l" "$n"
    start_sixgate; read -r q l n < <(run sixgate "$PORT_S"); stop
    SQ+=("$q"); SL+=("$l"); printf "%5d  %-9s  %9d  %16s  %4d\n" "$r" sixgate "$q" "$l" "$n"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mk=$(median "${KQ[@]}"); ms=$(median "${SQ[@]}"); lk=$(median "${KL[@]}"); ls=$(median "${SL[@]}")
echo "median: knot ${mk} q/s ${lk} ms; sixgate ${ms} q/s ${ls} ms; sixgate/knot queries/s $(awk -v a="$ms" -v b="$mk" 'BEGIN { printf "%.2f", a / b }'), latency $(awk -v a="$ls" -v b="$lk" 'BEGIN { printf "%.2f", a / b }')"
