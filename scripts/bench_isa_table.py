#!/usr/bin/env python3
"""The README's side-by-side table: `convt2d bench --json` runs of the same layers on two ISAs
(each side held to its ISA: CONVT2D_ISA and ONEDNN_MAX_CPU_ISA), each at 1 and 2 threads. Per layer
and ISA: optimized's median ms, % of that ISA's measured peak (or % of the measured bandwidth
with --bw), oneDNN's best-layout median ms, the speed-up (oneDNN's time over ours) and the
2-thread median. Then the geometric mean speed-up per ISA and thread count, and the lowest layer.

Usage: scripts/bench_isa_table.py --avx512 t1.json t2.json --avx2 a1.json a2.json [--bw]
"""
import argparse
import json
import math

ap = argparse.ArgumentParser()
ap.add_argument("--avx512", nargs="+", required=True, help="AVX-512 runs (1 and 2 threads)")
ap.add_argument("--avx2", nargs="+", required=True, help="AVX2 runs (1 and 2 threads)")
ap.add_argument("--bw", action="store_true", help="%% of measured bandwidth instead of peak")
ap.add_argument("--peer", default="onednn-best", help="the implementation compared against")
args = ap.parse_args()


def load(files):
    runs, order = {}, []  # threads -> name -> impl -> row
    for f in files:
        for r in json.load(open(f)):
            runs.setdefault(r["threads"], {}).setdefault(r["name"], {})[r["impl"]] = r
            if r["name"] not in order:
                order.append(r["name"])
    return runs, order


isas = {"AVX-512": load(args.avx512), "AVX2": load(args.avx2)}
order = isas["AVX-512"][1]
pct = "% bw" if args.bw else "% peak"
head, sep = "| layer | problem |", "|---|---|"
for isa, (runs, _) in isas.items():
    head += f" {isa} ms | {pct} | oneDNN ms | × | " + " | ".join(
        f"{t} thr ms | ×" for t in sorted(runs) if t != min(runs)) + " |"
    sep += "---:|---:|---:|---:|" + "---:|---:|" * (len(runs) - 1)
print(head.replace(" |  |", " |"))
print(sep)
logs = {}  # (isa, threads) -> [log speed-up]
for name in order:
    problem = isas["AVX-512"][0][min(isas["AVX-512"][0])][name]["optimized"]["problem"]
    line = f"| {name} | `{problem}` |"
    for isa, (runs, _) in isas.items():
        for t in sorted(runs):
            row = runs[t].get(name, {})
            o, b = row.get("optimized"), row.get(args.peer)
            x = b["median_ms"] / o["median_ms"] if o and b else float("nan")
            if o and b:
                logs.setdefault((isa, t), []).append((math.log(x), name))
            if t == min(runs):
                share = o["pct_bw"] if args.bw else o["pct_peak"]
                line += (f" {o['median_ms']:.3f} | {share:.0f} % | {b['median_ms']:.3f} |"
                         f" {x:.2f} |")
            else:
                line += f" {o['median_ms']:.3f} | {x:.2f} |"
    print(line)
print()
for (isa, t), v in logs.items():
    gm = math.exp(sum(l for l, _ in v) / len(v))
    low, lname = min(v)
    print(f"- {isa}, {t} thread{'s' if t > 1 else ''}: geometric mean **{gm:.2f}×** over "
          f"{args.peer} ({len(v)} layers); lowest {lname} {math.exp(low):.2f}×")
