#!/usr/bin/env python3
"""Instructions per iteration of a criterion bench loop, from a callgrind output file.

    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=cg.out \
        target/release/deps/siit-* --bench --profile-time 2 'siit/one_way_4to6/udp_64B$'
    bench/callgrind-per-iter.py cg.out

The figure is the inclusive cost of `Bencher::iter` (everything the bench loop calls)
divided by the number of loop iterations, which is read off the loop itself: the largest
execution count shared by at least five of `Bencher::iter`'s own instructions (the loop
body runs once per iteration; everything else in the function runs a handful of times).
"""
import collections
import re
import sys


def main(path):
    fns = {}
    in_iter = False
    counts = collections.Counter()
    incl = 0
    after_calls = False
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith(("fn=", "cfn=")):
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
            if m.group(2):
                fns[m.group(1)] = m.group(2)
            if line.startswith("fn="):
                in_iter = "Bencher<M>::iter" in fns.get(m.group(1), "")
            continue
        if line.startswith("calls="):
            after_calls = True
            continue
        if not line or line[0] not in "0123456789+-*":
            continue
        parts = line.split()
        if len(parts) >= 3 and in_iter:
            c = int(parts[2])
            incl += c
            # The line after calls= is the inclusive cost of a call, not an execution count.
            if not after_calls:
                counts[c] += 1
        after_calls = False
    loop = max(c for c, n in counts.items() if n >= 5)
    print(f"inclusive(iter)={incl} loop_iterations={loop} per_iteration={incl / loop:.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
