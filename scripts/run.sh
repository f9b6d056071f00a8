#!/usr/bin/env bash
# The main job: install what is missing, build, and run the demo on the embedded default model
# (assets/): captions, text->image retrieval and a chat, printed and written to demo.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/app/rscapret demo "$@"
