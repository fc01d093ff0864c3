#!/usr/bin/env bash
# Batch-mode benchmark: `sixgate 6to4 -` against ipv6calc's pipe mode on the same file of
# 1,000,000 global IPv4 addresses. Needs hyperfine, ipv6calc and python3.
#
#   crates/sixgate-6to4/benches/batch_vs_ipv6calc.sh [DIR]
#
# DIR (default: a fresh temporary directory) receives the input file and the outputs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=${1:-$(mktemp -d)}
in="$dir/v4-1m.txt"

# One million global IPv4 addresses, fixed seed: first octets in 1..223 outside every
# IANA special-purpose block's first octet, so every address is global.
python3 - "$in" <<'PY'
import random, sys
random.seed(6056)
special = {0, 10, 100, 127, 169, 172, 192, 198, 203}
firsts = [o for o in range(1, 224) if o not in special]
with open(sys.argv[1], "w") as f:
    for _ in range(1_000_000):
        f.write(f"{random.choice(firsts)}.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(256)}\n")
PY

cargo build --release -q -p sixgate-cli
bin="${CARGO_TARGET_DIR:-target}/release/sixgate"

# Same answers first (ipv6calc prints the prefix without "/48").
"$bin" 6to4 - < "$in" > "$dir/sixgate.out"
ipv6calc -q --action conv6to4 --in ipv4 --out ipv6 < "$in" > "$dir/ipv6calc.out"
if ! sed 's|$|/48|' "$dir/ipv6calc.out" | cmp -s - "$dir/sixgate.out"; then
    echo "outputs differ" >&2
    exit 1
fi
echo "outputs agree on $(wc -l < "$in") addresses"

# `cat` of the same file is the I/O floor. (hyperfine 1.15 has no --input: the commands
# redirect through the shell, whose start-up hyperfine measures and subtracts.)
hyperfine --warmup 2 --runs 10 \
    --export-markdown "$dir/hyperfine.md" \
    "$bin 6to4 - < $in > /dev/null" \
    "ipv6calc -q --action conv6to4 --in ipv4 --out ipv6 < $in > /dev/null" \
    "cat $in > /dev/null"
cat "$dir/hyperfine.md"
