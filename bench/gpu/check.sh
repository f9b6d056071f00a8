#!/usr/bin/env bash
# One-call GPU check for a session with a lent GPU: builds with CUDA, runs every test (the CUDA
# ones no longer skip), and prints a short summary table. Usage (on the GPU machine):
#   bash bench/gpu/check.sh
# Keep it under 5 minutes on an H100: it builds only what the tests need.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi failed"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
arch=${arch:-90}
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSCAPRET_CUDA=ON -DRSCAPRET_BENCH=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" > build-gpu.log 2>&1 || { tail -30 build-gpu.log; exit 1; }
cmake --build build-gpu -j "$(nproc)" >> build-gpu.log 2>&1 || { grep -E "error" build-gpu.log | head -30; exit 1; }
(cd build-gpu && ctest -j "$(nproc)" --output-on-failure -R "Cuda|cuda" 2>&1 | tail -25)
(cd build-gpu && ctest -j "$(nproc)" 2>&1 | grep -E "tests passed|tests failed" )
echo "| check | result |"
echo "|---|---|"
echo "| build (sm_$arch) | ok |"
echo "| CUDA tests | $(cd build-gpu && ctest -R 'Cuda|cuda' 2>&1 | grep -E 'tests passed' | head -1) |"
echo "| wall time | $(( $(date +%s) - start )) s |"
