#!/usr/bin/env python3
"""Turns `convt2d bench --json` output (one or more files, e.g. 1 and 2 threads) into the README's
markdown table: per layer, optimized's median ms and GFLOP/s, oneDNN's, and the speed-ups, then
the geometric means. Usage: scripts/bench_table.py t1.json [t2.json] --peak GFLOPS"""
import argparse
import json
import math

ap = argparse.ArgumentParser()
ap.add_argument("files", nargs="+")
ap.add_argument("--peak", type=float, required=True, help="1-thread FMA peak, GFLOP/s")
args = ap.parse_args()

runs = {}  # threads -> name -> impl -> row
order = []
for f in args.files:
    for r in json.load(open(f)):
        runs.setdefault(r["threads"], {}).setdefault(r["name"], {})[r["impl"]] = r
        if r["name"] not in order:
            order.append(r["name"])

t1 = runs[min(runs)]
tn = runs[max(runs)] if len(runs) > 1 else None
head = ("| layer | problem | optimized ms | GFLOP/s | % peak | oneDNN best ms | oneDNN nchw ms "
        "| × best | × nchw |")
sep = "|---|---|---:|---:|---:|---:|---:|---:|---:|"
if tn:
    head += f" {max(runs)} threads ms | scaling |"
    sep += "---:|---:|"
print(head)
print(sep)
logs = {"best": [], "nchw": []}
for name in order:
    L = t1[name]
    o, b, c = L["optimized"], L["onednn-best"], L["onednn-nchw"]
    xb, xc = b["median_ms"] / o["median_ms"], c["median_ms"] / o["median_ms"]
    logs["best"].append(math.log(xb))
    logs["nchw"].append(math.log(xc))
    line = (f"| {name} | `{o['problem']}` | {o['median_ms']:.3f} | {o['gflops']:.1f} | "
            f"{100 * o['gflops'] / args.peak:.0f} % | {b['median_ms']:.3f} | {c['median_ms']:.3f} | "
            f"{xb:.2f} | {xc:.2f} |")
    if tn:
        o2 = tn[name]["optimized"]
        line += f" {o2['median_ms']:.3f} | {o['median_ms'] / o2['median_ms']:.2f} |"
    print(line)
gm = {k: math.exp(sum(v) / len(v)) for k, v in logs.items()}
print(f"\nGeometric mean speed-up: **{gm['best']:.2f}×** over oneDNN's preferred layout, "
      f"**{gm['nchw']:.2f}×** over oneDNN on NCHW ({len(order)} layers, 1 thread).")
