#!/usr/bin/env bash
# sixgate proxy against HAProxy (TCP mode, `req.ssl_sni` routing), side by side in one run,
# same topology, same CPU pinning (each proxy alone on CPU 1, one thread; nginx and the
# clients on CPU 0):
#
#   cl 198.51.100.2 -- 198.51.100.1 [px] 2001:db8:100::1 -- 2001:db8:100::2 be (nginx)
#
# Measured for each proxy, in the same run:
#   tls_conn_s   new TLS connections per second, one short HTTPS request each (h2load --h1,
#                as many clients as requests: every request on its own connection)
#   cpu_us_conn  the proxy's CPU time (user+system) per such connection
#   one_MBps     one HTTP stream of a 1 GiB file (curl), MB/s
#   many_MBps    8 such streams at once, MB/s in all
#   cpu_s_GB     the proxy's CPU time per GB copied (both bulk runs)
#   idle_KiB     the proxy's resident memory per idle connection (2000 held keep-alive
#                HTTP connections, after one request each)
# HTTP bulk and idle runs go through sixgate's HTTP listener (routed by Host) and through
# HAProxy's TCP frontend straight to the backend (HAProxy does not look at the bytes there).
#
# Needs root, nginx, haproxy, h2load (nghttp2-client), curl, openssl, python3, a release build:
#   cargo build --release -p sixgate-cli && sudo bench/proxy_race.sh
# Environment: SIXGATE (binary), CONNS (TLS connections per round, default 1000), ROUNDS (3),
# BIG_MB (the bulk file, default 1024), SPLICE=0 (sixgate copies through a buffer, not with splice(2)), WORKERS
# (sixgate's threads, default 1), ONLY_BULK=1 (three one-stream runs each, nothing else).
set -euo pipefail
BIN=${SIXGATE:-$(dirname "$0")/../target/release/sixgate}
CONNS=${CONNS:-1000}
BIG_MB=${BIG_MB:-1024}
ROUNDS=${ROUNDS:-3}
P=pxb
CL=${P}cl; PX=${P}px; BE=${P}be
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for n in "$CL" "$PX" "$BE"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
TCK=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

for n in "$CL" "$PX" "$BE"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add c0 netns "$CL" type veth peer name c1 netns "$PX"
ip link add b0 netns "$PX" type veth peer name b1 netns "$BE"
ip -n "$CL" addr add 198.51.100.2/24 dev c0; ip -n "$CL" link set c0 up
ip -n "$PX" addr add 198.51.100.1/24 dev c1; ip -n "$PX" link set c1 up
ip -n "$PX" -6 addr add 2001:db8:100::1/64 dev b0 nodad; ip -n "$PX" link set b0 up
ip -n "$BE" -6 addr add 2001:db8:100::2/64 dev b1 nodad; ip -n "$BE" link set b1 up

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=a.example \
    -addext subjectAltName=DNS:a.example -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
truncate -s "${BIG_MB}M" "$WORK/big"
mkdir -p "$WORK/tmp"
cat > "$WORK/nginx.conf" <<EOF
user root; worker_processes 1; daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
worker_rlimit_nofile 20000;
events { worker_connections 10000; }
http {
  access_log off; sendfile on; keepalive_timeout 300s; keepalive_requests 100000;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
  uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
  ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem; ssl_session_tickets off;
  server { listen [2001:db8:100::2]:443 ssl; server_name a.example; location / { return 200 "ok\n"; } }
  server { listen [2001:db8:100::2]:80; server_name a.example; root $WORK; location / { return 200 "ok\n"; }
           location = /big { } }
}
EOF
ip netns exec "$BE" taskset -c 0 nginx -c "$WORK/nginx.conf" & PIDS+=($!)

cat > "$WORK/proxy.toml" <<EOF
workers = ${WORKERS:-1}
splice = $([ "${SPLICE:-1}" = 1 ] && echo true || echo false)
max_per_source = 100000
max_connections = 100000
[[listener]]
listen = "198.51.100.1:443"
protocol = "tls"
[listener.routes]
"a.example" = "[2001:db8:100::2]:443"
[[listener]]
listen = "198.51.100.1:80"
protocol = "http"
[listener.routes]
"a.example" = "[2001:db8:100::2]:80"
EOF
ip netns exec "$PX" taskset -c 1 "$BIN" proxy --config "$WORK/proxy.toml" 2>"$WORK/proxy.log" & SG=$!; PIDS+=($SG)

cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend tls
  bind 198.51.100.1:1443
  tcp-request inspect-delay 5s
  tcp-request content accept if { req_ssl_hello_type 1 }
  use_backend be443 if { req.ssl_sni -i a.example }
frontend plain
  bind 198.51.100.1:1080
  default_backend be80
backend be443
  server s1 [2001:db8:100::2]:443
backend be80
  server s1 [2001:db8:100::2]:80
EOF
ip netns exec "$PX" taskset -c 1 haproxy -f "$WORK/haproxy.cfg" -db 2>"$WORK/haproxy.log" & HA=$!; PIDS+=($HA)
sleep 1

# TLS connections: h2load, every request on a new connection.
tls_rate() { # port pid -> "conn/s cpu_us_per_conn"
    local port=$1 pid=$2 t0 t1 s0 s1 ok=0 total=0
    t0=$(ticks "$pid"); s0=$(date +%s.%N)
    for _ in $(seq "$ROUNDS"); do
        local o
        o=$(ip netns exec "$CL" taskset -c 0 h2load --h1 -n "$CONNS" -c "$CONNS" \
            --connect-to=198.51.100.1:"$port" "https://a.example:$port/" 2>&1)
        ok=$((ok + $(echo "$o" | awk '/^requests:/ {print $8}')))
        total=$((total + CONNS))
    done
    s1=$(date +%s.%N); t1=$(ticks "$pid")
    awk -v ok="$ok" -v a="$s0" -v b="$s1" -v t=$((t1 - t0)) -v tck="$TCK" \
        'BEGIN { printf "%.0f %.1f %d", ok / (b - a), t * 1e6 / tck / ok, ok }'
}

# Bulk: STREAMS curls of the 1 GiB file at once; MB/s in all.
bulk() { # port streams
    local s0 s1 pids=()
    s0=$(date +%s.%N)
    for _ in $(seq "$2"); do
        ip netns exec "$CL" taskset -c 0 curl -s -o /dev/null --resolve "a.example:$1:198.51.100.1" \
            "http://a.example:$1/big" &
        pids+=($!)
    done
    wait "${pids[@]}"
    s1=$(date +%s.%N)
    awk -v n="$2" -v mb="$BIG_MB" -v a="$s0" -v b="$s1" 'BEGIN { printf "%.0f", n * mb * 1.048576 / (b - a) }'
}

idle() { # port pid -> KiB per idle connection
    local r0 r1
    r0=$(rss_kib "$2")
    ip netns exec "$CL" python3 - "$1" "$WORK/idle.$1" <<'PY' &
import socket, sys, os, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (10000, 10000))
port, mark = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(2000):
    s = socket.create_connection(("198.51.100.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
    socks.append(s)
for s in socks:
    s.recv(4096)
open(mark, "w").close()
while os.path.exists(mark):
    time.sleep(0.05)
PY
    while [ ! -e "$WORK/idle.$1" ]; do sleep 0.1; done
    sleep 1
    r1=$(rss_kib "$2")
    rm -f "$WORK/idle.$1"
    wait %% 2>/dev/null || true
    awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.1f", (b - a) / 2000 }'
}

declare -A R
for who in sixgate haproxy; do
    if [ $who = sixgate ]; then pid=$SG; tp=443; hp=80; else pid=$HA; tp=1443; hp=1080; fi
    if [ "${ONLY_BULK:-0}" = 1 ]; then
        for _ in 1 2 3; do echo "$who one stream: $(bulk $hp 1) MB/s" >&2; done
        continue
    fi
    bulk $hp 1 >/dev/null # warm-up: the file into the page cache, the windows open
    read -r rate cpu n <<<"$(tls_rate $tp $pid)"
    R[$who.tls_conn_s]=$rate; R[$who.cpu_us_conn]=$cpu
    t0=$(ticks $pid)
    R[$who.one_MBps]=$(bulk $hp 1)
    R[$who.many_MBps]=$(bulk $hp 8)
    t1=$(ticks $pid)
    R[$who.cpu_s_GB]=$(awk -v t=$((t1 - t0)) -v tck="$TCK" -v mb="$BIG_MB" 'BEGIN { printf "%.2f", t / tck / (9 * mb * 0.001048576) }')
    R[$who.idle_KiB]=$(idle $hp $pid)
    echo "$who: $n TLS connections; ${R[$who.tls_conn_s]} conn/s, ${R[$who.cpu_us_conn]} us CPU/conn;" \
        "bulk ${R[$who.one_MBps]} MB/s (1), ${R[$who.many_MBps]} MB/s (8), ${R[$who.cpu_s_GB]} s CPU/GB;" \
        "${R[$who.idle_KiB]} KiB/idle conn" >&2
done
printf '%-12s %10s %10s %8s\n' metric sixgate haproxy ratio
for m in tls_conn_s cpu_us_conn one_MBps many_MBps cpu_s_GB idle_KiB; do
    printf '%-12s %10s %10s %8s\n' "$m" "${R[sixgate.$m]}" "${R[haproxy.$m]}" \
        "$(awk -v a="${R[sixgate.$m]}" -v b="${R[haproxy.$m]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
done
