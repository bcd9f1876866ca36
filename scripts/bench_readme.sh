#!/usr/bin/env bash
# The runs behind the README's performance tables, into OUT (default ./bench-out): the shared
# layer suite and bench/layers-tiny.txt forward, and the suite's bwd_data and bwd_weights, each on
# AVX-512 and on AVX2 (both sides held to it), at 1 and 2 threads; then the tables.
#   scripts/bench_readme.sh [OUT] [MIN_TIME]
# Needs a built ./build/cli/convt2d (scripts/build.sh) and a quiet machine: every number is a
# median, but a busy neighbour shifts all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out}
min_time=${2:-0.5}
layers=${LAYERS:-../shared/bench/layers.txt}
B=./build/cli/convt2d
mkdir -p "$out"

run() {  # run NAME ISA THREADS LAYERS IMPLS [PASS]
  local name=$1 isa=$2 t=$3 file=$4 impls=$5 pass=${6:-forward}
  local env=()
  [ "$isa" = avx2 ] && env=(CONVT2D_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2)
  env "${env[@]}" OMP_NUM_THREADS="$t" "$B" bench --layers "$file" --impls "$impls" \
    --pass "$pass" --min-time "$min_time" --threads "$t" --json >"$out/$name-$isa-$t.json"
  echo "bench_readme: $name $isa $t threads done"
}

for isa in avx512 avx2; do
  for t in 1 2; do
    run forward "$isa" "$t" "$layers" optimized,onednn-best,onednn-nchw
    run tiny "$isa" "$t" bench/layers-tiny.txt optimized,onednn-best
  done
  for pass in bwd_data bwd_weights; do
    run "$pass" "$isa" 1 "$layers" optimized,onednn-best "$pass"
  done
done

table() {  # table NAME [--bw]
  local name=$1
  shift
  python3 scripts/bench_isa_table.py "$@" \
    --avx512 "$out/$name-avx512-1.json" $(ls "$out/$name-avx512-2.json" 2>/dev/null) \
    --avx2 "$out/$name-avx2-1.json" $(ls "$out/$name-avx2-2.json" 2>/dev/null)
}
{
  echo "### forward"
  table forward
  echo
  echo "### tiny inputs (% of the measured bandwidth of the level the weights live in)"
  table tiny --bw
  for pass in bwd_data bwd_weights; do
    echo
    echo "### $pass"
    table "$pass"
  done
} | tee "$out/tables.md"
