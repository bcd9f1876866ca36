#!/usr/bin/env bash
# Mutation run of the property suite: builds every mutant of verify/mutants (a copy of the
# reference with one deliberate bug each), runs the implementation-level properties against it
# and prints killed/survived per mutant and the score. Exit status: 0 when every mutant is killed
# and the control (mutant 0, the faithful copy) passes; 1 otherwise.
#
#   verify/mutants/run_mutants.sh [build-dir]      (default: build-mutants)
#   RC_PARAMS="max_success=1000" verify/mutants/run_mutants.sh   (more cases per property)
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build-mutants}"
jobs="${JOBS:-2}"
mkdir -p "$build"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONVT2D_BUILD_MUTANTS=ON \
  > "$build/mutants-configure.log" 2>&1 || { cat "$build/mutants-configure.log"; exit 1; }
count=$(sed -n 's/^set(CONVT2D_MUTANT_COUNT \([0-9]*\)).*/\1/p' "$root/verify/mutants/CMakeLists.txt")
targets=()
for k in $(seq 0 "$count"); do targets+=("convt2d_mutant_$k"); done
cmake --build "$build" -j "$jobs" --target "${targets[@]}" > "$build/mutants-build.log" 2>&1 \
  || { tail -50 "$build/mutants-build.log"; exit 1; }

# Properties 1-3 check the library's own definitions, not the implementation under test.
filter='-Shapes.*:PrecisionLadder.*:Adjoint.TransposedConvolutionIsTheAdjointOfConv2d'
logs="$build/mutant-logs"
mkdir -p "$logs"
status=0
killed=0
for k in $(seq 0 "$count"); do
  bin="$build/verify/mutants/convt2d_mutant_$k"
  desc="$("$bin" --describe)"
  CONVT2D_IMPL=mutant "$bin" --gtest_filter="$filter" > "$logs/mutant_$k.log" 2>&1
  rc=$?
  failed="$(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_]*\.[A-Za-z0-9_]*\) (.*/\1/p' "$logs/mutant_$k.log" \
            | paste -sd, - | sed 's/,/, /g')"
  if [ "$k" -eq 0 ]; then
    if [ $rc -eq 0 ]; then
      echo "control (mutant 0, $desc): passes"
    else
      echo "control (mutant 0, $desc): FAILS ($failed) - the suite or the copy is wrong"
      status=1
    fi
  elif [ $rc -ne 0 ]; then
    echo "mutant $k ($desc): killed by ${failed:-a crash (exit status $rc)}"
    killed=$((killed + 1))
  else
    echo "mutant $k ($desc): survived"
    status=1
  fi
done
echo "mutation score: $killed/$count killed ($((100 * killed / count)) %); logs in $logs"
exit $status
