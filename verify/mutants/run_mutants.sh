#!/usr/bin/env bash
# The mutation run: builds the mutants, runs the property suite against each, and prints
# killed/survived. Exits non-zero if any mutant survives or the unmodified control is killed.
# Usage: verify/mutants/run_mutants.sh [build-dir]   (default: build-mutants)
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-mutants}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONVT2D_BUILD_MUTANTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null || { echo "build failed"; exit 2; }
descriptions=(
  "control: the unmodified reference"
  "output_padding in W ignored when H's is 0"
  "kernel flipped"
  "padding off by one"
  "wrong group offset for input channels"
  "bias skipped where no tap lands"
  "dilation applied to the input instead of the kernel"
  "in/out channels swapped in the grouped weight"
  "stride of the wrong axis"
  "accumulation in half precision"
  "output_padding added at the top"
  "kernel rows and columns transposed"
  "every sample reads batch 0"
)
killed=0 survived=0 status=0
for k in $(seq 0 12); do
  log="$build/mutant_$k.log"
  RC_PARAMS="${RC_PARAMS:-max_success=300}" "$build/verify/mutants/convt2d_mutant_$k" >"$log" 2>&1
  rc=$?
  by=$(grep -o '^\[  FAILED  \] [A-Z][A-Za-z0-9_]*\.[A-Za-z0-9_]*' "$log" | sed 's/.*\] //' | sort -u | tr '\n' ' ')
  if [ "$k" -eq 0 ]; then
    if [ $rc -eq 0 ]; then echo "mutant 0 (${descriptions[0]}): survived, as it must";
    else echo "mutant 0 (${descriptions[0]}): KILLED by $by- the suite is broken"; status=1; fi
    continue
  fi
  if [ $rc -ne 0 ]; then
    killed=$((killed + 1)); echo "mutant $k (${descriptions[$k]}): killed by $by"
  else
    survived=$((survived + 1)); status=1; echo "mutant $k (${descriptions[$k]}): SURVIVED"
  fi
done
echo "mutation score: $killed/$((killed + survived)) killed"
exit $status
