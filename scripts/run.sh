#!/usr/bin/env bash
# The main job: install what is missing, build, and run the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/app/rscapret selftest "$@"
