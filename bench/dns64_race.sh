#!/usr/bin/env bash
# The DNS64 race: `sixgate dns64` against unbound with its dns64 module, in one run, on
# loopback, both in front of the same upstream (an unbound serving only A records from
# local-data), with the same query files, driven by dnsperf (8 clients, 200 queries in
# flight):
#
#   warm: 2,000 AAAA names, asked once to fill the caches, then for SECS seconds;
#   cold: 200,000 distinct AAAA names, each asked once (every answer needs the upstream:
#         an AAAA query, NODATA, then an A query), on freshly started servers.
#
# The contenders take turns (sixgate, unbound, sixgate, unbound) and the report gives
# queries/s and average latency for each, and sixgate's ratio to unbound.
# Needs unbound, dnsperf and a release build of sixgate:
#   cargo build --release -p sixgate-cli && bench/dns64_race.sh [SECS]
# WORKERS (default 2) is both servers' thread count; COLD (default 200000) the cold names;
# ROUNDS (default 2) the turns each server gets per case. PIN=1 gives the servers CPU 1 and
# dnsperf and the upstream CPU 0 (taskset), so that neither server's rate depends on how
# the scheduler shares the CPUs with the load generator (use WORKERS=1 with it on two CPUs).
# SIXGATE_BEFORE=path races a second sixgate binary too (as "before"), to compare builds.
set -euo pipefail
SECS=${1:-15}
WORKERS=${WORKERS:-2}
COLD=${COLD:-200000}
ROUNDS=${ROUNDS:-2}
SERVER_CPU=() CLIENT_CPU=()
if [ -n "${PIN:-}" ]; then
    command -v taskset >/dev/null || { echo "missing: taskset" >&2; exit 2; }
    SERVER_CPU=(taskset -c 1) CLIENT_CPU=(taskset -c 0)
fi
BEFORE=${SIXGATE_BEFORE:-}
BIN=${SIXGATE:-$(dirname "${BASH_SOURCE[0]}")/../target/release/sixgate}
for t in unbound dnsperf "$BIN"; do
    command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 2; }
done
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

BASE=$((20000 + RANDOM % 20000))
UP=$BASE S64=$((BASE + 1)) U64=$((BASE + 2))

# The upstream: A records only, an SOA for the negative AAAA answers (RFC 2308).
{
    cat <<EOF
server:
    interface: 127.0.0.1
    port: $UP
    num-threads: 1
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    local-zone: "bench.example." static
    local-data: "bench.example. 3600 IN SOA ns.bench.example. h.bench.example. 1 3600 600 86400 3600"
EOF
    for i in $(seq 0 $((COLD + 2000 - 1))); do
        echo "    local-data: \"n$i.bench.example. 3600 IN A 198.51.$((i / 250 % 250)).$((i % 250 + 1))\""
    done
} >"$WORK/up.conf"

cat >"$WORK/u64.conf" <<EOF
server:
    interface: 127.0.0.1
    port: $U64
    num-threads: $WORKERS
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    qname-minimisation: no
    module-config: "dns64 iterator"
    dns64-prefix: 64:ff9b::/96
    msg-cache-size: 64m
    rrset-cache-size: 128m
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$UP
EOF

for i in $(seq 0 1999); do echo "n$i.bench.example AAAA"; done >"$WORK/warm.txt"
for i in $(seq 2000 $((COLD + 2000 - 1))); do echo "n$i.bench.example AAAA"; done >"$WORK/cold.txt"

wait_port() {
    for _ in $(seq 1 100); do
        if dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/warm.txt" -n 1 -c 1 -q 1 -Q 100 -l 1 2>/dev/null |
            grep -q "Queries completed: *[1-9]"; then
            return 0
        fi
        sleep 0.2
    done
    echo "server on port $1 did not come up" >&2
    exit 1
}

"${CLIENT_CPU[@]}" unbound -d -c "$WORK/up.conf" &
PIDS+=($!)
wait_port "$UP"

SIXGATE_PID="" UNBOUND_PID=""
start_sixgate() {
    "${SERVER_CPU[@]}" "${1:-$BIN}" dns64 --listen "127.0.0.1:$S64" --upstream "127.0.0.1:$UP" --workers "$WORKERS" \
        --cache-size 500000 2>"$WORK/sixgate.log" &
    SIXGATE_PID=$!
    PIDS+=("$SIXGATE_PID")
    wait_port "$S64"
}
start_unbound() {
    "${SERVER_CPU[@]}" unbound -d -c "$WORK/u64.conf" &
    UNBOUND_PID=$!
    PIDS+=("$UNBOUND_PID")
    wait_port "$U64"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# CPU time (user + system) of a process, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# dnsperf's queries/s, average latency (ms), queries lost, and the server's CPU time per
# answered query (µs).
perf() {
    local pid=$1
    shift
    local t0 t1
    t0=$(ticks "$pid")
    local out
    out=$("${CLIENT_CPU[@]}" dnsperf -s 127.0.0.1 -p "$1" -c 8 -q 200 "${@:2}" 2>&1)
    [ -n "${VERBOSE:-}" ] && echo "$out" | grep -E "Response codes|Queries per|Run time" >&2
    local qps lat lost
    qps=$(echo "$out" | awk '/Queries per second:/ {print $4}')
    lat=$(echo "$out" | awk '/Average Latency/ {printf "%.3f", $4 * 1000}')
    lost=$(echo "$out" | awk '/Queries lost:/ {print $3}')
    t1=$(ticks "$pid")
    local done_
    done_=$(echo "$out" | awk '/Queries completed:/ {print $3}')
    local cpu
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$done_" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')
    echo "$qps $lat $lost $cpu"
}

declare -A R
run() { # name port what pid
    local pid=$4
    case $3 in
    warm)
        perf "$pid" "$2" -d "$WORK/warm.txt" -n 1 >/dev/null
        R[$1-warm]=$(perf "$pid" "$2" -d "$WORK/warm.txt" -l "$SECS")
        ;;
    cold)
        local before after
        before=$(rss "$pid")
        R[$1-cold]=$(perf "$pid" "$2" -d "$WORK/cold.txt" -n 1 -t 5)
        after=$(rss "$pid")
        R[$1-rss]="$before $after"
        ;;
    esac
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

WHO=(sixgate unbound)
[ -n "$BEFORE" ] && WHO+=(before)
echo "# sixgate dns64 vs unbound dns64, $WORKERS workers each, dnsperf -c 8 -q 200; $(nproc) CPUs, pinned: ${PIN:-no}, $(date -u +%F)"
for what in cold warm; do
    for round in $(seq 1 "$ROUNDS"); do
        start_sixgate
        run "sixgate$round" "$S64" "$what" "$SIXGATE_PID"
        stop "$SIXGATE_PID"
        if [ -n "$BEFORE" ]; then
            start_sixgate "$BEFORE"
            run "before$round" "$S64" "$what" "$SIXGATE_PID"
            stop "$SIXGATE_PID"
        fi
        start_unbound
        run "unbound$round" "$U64" "$what" "$UNBOUND_PID"
        stop "$UNBOUND_PID"
    done
done

printf '%-6s %-8s %12s %14s %8s %16s\n' case server "queries/s" "avg lat (ms)" lost "CPU µs/query"
for what in warm cold; do
    for round in $(seq 1 "$ROUNDS"); do
        for who in "${WHO[@]}"; do
            read -r q l lost cpu <<<"${R[$who$round-$what]}"
            printf '%-6s %-8s %12.0f %14s %8s %16s\n' "$what" "$who$round" "$q" "$l" "$lost" "$cpu"
        done
        read -r sq sl _ sc <<<"${R[sixgate$round-$what]}"
        read -r uq ul _ uc <<<"${R[unbound$round-$what]}"
        awk -v w="$what" -v r="$round" -v sq="$sq" -v uq="$uq" -v sl="$sl" -v ul="$ul" -v sc="$sc" -v uc="$uc" 'BEGIN {
            printf "%-6s ratio%-3s sixgate/unbound: q/s %.2f, latency %.2f, CPU per query %.2f\n", w, r, sq / uq, sl / ul, sc / uc }'
    done
done

# Memory: the resident size grown over the cold run, per cached entry (each cold name
# leaves three with sixgate: the synthesized answer, the upstream's NODATA and its A).
for round in $(seq 1 "$ROUNDS"); do
    for who in "${WHO[@]}"; do
        read -r b a <<<"${R[$who$round-rss]}"
        awk -v w="$who$round" -v b="$b" -v a="$a" -v n="$COLD" 'BEGIN {
            printf "memory %-8s RSS %d -> %d KiB over %d names: %.0f bytes per name\n", w, b, a, n, (a - b) * 1024 / n }'
    done
done
