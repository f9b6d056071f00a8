#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (Debian's clang + libclang-rt) and runs one of them.
#   bash tools/fuzz/run.sh NAME [SECONDS]     e.g. bash tools/fuzz/run.sh safetensors_header 30
# NAME is the part after fuzz_ in tools/fuzz/fuzz_NAME.cpp. Exits non-zero when a crash is found.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: run.sh NAME [SECONDS]}
seconds=${2:-30}
bash scripts/install_deps.sh
for p in clang libclang-rt-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-dev; break; }
done
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRSCAPRET_FUZZ=ON -DRSCAPRET_TESTS=OFF -DRSCAPRET_BENCH=OFF -DRSCAPRET_CUDA=OFF >/dev/null
cmake --build build-fuzz --target "fuzz_${name}" -j "$(nproc)"
corpus="build-fuzz/corpus_${name}"
mkdir -p "$corpus"
seeds="tools/fuzz/seeds/${name}"
[ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
"./build-fuzz/fuzz_${name}" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 "$corpus"
