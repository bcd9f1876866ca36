#!/usr/bin/env bash
# The README's main command: set up a fresh machine, build, and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
./build/cli/convt2d verify
