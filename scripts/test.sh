#!/usr/bin/env bash
# The README's test command: set up a fresh machine, build, and run every test under ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh "$@"
ctest --test-dir build -j"$(nproc)" --output-on-failure --timeout 900
