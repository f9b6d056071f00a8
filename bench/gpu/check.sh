#!/usr/bin/env bash
# One-call GPU check for a session with a lent GPU: every CUDA test, then the kernel labs, and a
# short summary table at the end. Full logs go to $OUT (or ./gpu-logs) when set.
#   on the GPU machine:  bash bench/gpu/check.sh [--full]
# With .gpu/pack.tar.xz present (bench/gpu/pack.sh, built on a machine without a GPU) it runs the
# packed binaries; otherwise it builds here with CUDA (needs the build dependencies installed).
# Sized to finish in under 5 minutes on an H100; a shared deadline stops it before 10.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
out=${OUT:-gpu-logs}
mkdir -p "$out"
quick=--quick
[ "${1:-}" = "--full" ] && quick=
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader || echo "nvidia-smi failed"

if [ -f .gpu/pack.tar.xz ]; then
  rm -rf /tmp/rsgpu && mkdir -p /tmp/rsgpu && tar -C /tmp/rsgpu -xJf .gpu/pack.tar.xz
  bin=/tmp/rsgpu/bin
  # The CUDA math libraries: the machine's toolkit, or the ones PyTorch's wheels bring.
  cudalibs=$(dirname "$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcublasLt.so.13*' 2>/dev/null | head -1)" 2>/dev/null)
  export LD_LIBRARY_PATH=/tmp/rsgpu/lib:${cudalibs}:${LD_LIBRARY_PATH:-}
  [ -d /tmp/rsgpu/shared ] && export RSCAPRET_SHARED=/tmp/rsgpu/shared
  echo "packed binaries; cuBLAS from: ${cudalibs:-not found}"
else
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
  [ "$arch" = 90 ] && arch=90a  # Hopper: wgmma and TMA
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSCAPRET_CUDA=ON -DRSCAPRET_BENCH=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
  cmake --build build-gpu -j "$(nproc)" --target test_cuda gemm_lab attention_lab model_lab >> "$out/build.log" 2>&1 ||
    { grep -E "error" "$out/build.log" | head -30; exit 1; }
  bin=/tmp/rsgpu-bin && mkdir -p $bin
  cp build-gpu/tests/cuda/test_cuda build-gpu/bench/cuda/{gemm_lab,attention_lab,model_lab} $bin/
fi

# Every stage gets its own limit and all of them share a deadline (560 s from the start), so the
# summary and the logs under $OUT come back inside one 600 s device call whatever hangs.
deadline=$((start + 560))
# limit N: N, or the seconds left before the deadline when fewer (at least 1).
limit() { local left=$((deadline - $(date +%s))); [ "$left" -lt "$1" ] && echo $((left > 1 ? left : 1)) || echo "$1"; }

echo "== CUDA tests"
timeout "$(limit 200)" "$bin/test_cuda" > "$out/test_cuda.log" 2>&1
tests_rc=$?
grep -E "FAILED|Failure|rror|Expected|Which is|actual" "$out/test_cuda.log" | head -80
tail -3 "$out/test_cuda.log"

echo "== the embedded default model captioned on the GPU and on the CPU"
timeout "$(limit 60)" "$bin/rscapret" caption --model assets/model --device cuda assets/samples/*.png > "$out/caption_cuda.txt" 2> "$out/caption_cuda.err"
cap_rc=$?
timeout "$(limit 60)" "$bin/rscapret" caption --model assets/model assets/samples/*.png > "$out/caption_cpu.txt" 2>/dev/null
if [ $cap_rc -eq 0 ] && cmp -s "$out/caption_cuda.txt" "$out/caption_cpu.txt"; then cap=same; else cap="differ (rc $cap_rc)"; fi
head -4 "$out/caption_cuda.txt"; tail -3 "$out/caption_cuda.err"
diff "$out/caption_cpu.txt" "$out/caption_cuda.txt" | head -10

# The model lab before the kernel labs: its figures (whole models) are the ones most sessions need.
echo "== model lab"
timeout "$(limit 200)" "$bin/model_lab" $quick > "$out/model_lab.log" 2>&1
model_rc=$?
cat "$out/model_lab.log"

echo "== GEMM lab"
timeout "$(limit 150)" "$bin/gemm_lab" all > "$out/gemm_lab.log" 2>&1
gemm_rc=$?
tail -25 "$out/gemm_lab.log"

if [ -x "$bin/gemm_wgmma_lab" ]; then
  echo "== GEMM wgmma lab"
  timeout "$(limit 60)" "$bin/gemm_wgmma_lab" > "$out/gemm_wgmma_lab.log" 2>&1
  echo "rc $?"; tail -12 "$out/gemm_wgmma_lab.log"
fi

echo "== attention lab"
timeout "$(limit 100)" "$bin/attention_lab" $quick > "$out/attention_lab.log" 2>&1
attn_rc=$?
tail -25 "$out/attention_lab.log"

echo
echo "| check | result |"
echo "|---|---|"
echo "| CUDA tests | rc $tests_rc; $(grep -cE '^\[       OK|^\[  PASSED' "$out/test_cuda.log" 2>/dev/null) ok lines, $(grep -c '^\[  FAILED' "$out/test_cuda.log" 2>/dev/null) failed lines |"
echo "| rscapret caption --device cuda vs cpu | $cap |"
echo "| model_lab | rc $model_rc (124: stopped at its limit) |"
echo "| gemm_lab | rc $gemm_rc |"
echo "| attention_lab | rc $attn_rc |"
echo "| wall time | $(( $(date +%s) - start )) s |"
