#!/usr/bin/env bash
# Builds the CUDA test and benchmark binaries HERE (nvcc needs no GPU to compile) and packs them,
# with the shared libraries they need that a bare GPU machine may lack, into .gpu/pack.tar.xz.
# A session with a lent GPU then carries .gpu and runs `bash bench/gpu/check.sh` there: the
# device time goes to running, not compiling.
#   bash bench/gpu/pack.sh [BUILD_DIR]    # default ./build (configured with nvcc found: sm_90a)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSCAPRET_CUDA=ON -DRSCAPRET_BENCH=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90a > /dev/null
fi
targets=(test_cuda gemm_lab attention_lab model_lab rscapret)
# Optional labs (present when their sources are): built if the build knows the target.
for t in gemm_wgmma_lab; do
  cmake --build "$build" --target help 2>/dev/null | grep -q "^$t:" && targets+=("$t")
done
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/lib"
cp "$build/tests/cuda/test_cuda" "$build/bench/cuda/gemm_lab" "$build/bench/cuda/attention_lab" "$build/bench/cuda/model_lab" "$stage/bin/"
cp "$build/app/rscapret" "$stage/bin/" 2>/dev/null || true
cp "$build/bench/cuda/gemm_wgmma_lab" "$stage/bin/" 2>/dev/null || true
# Non-system libraries the binaries link (OpenBLAS, Highway, xxHash, gfortran): glibc and
# libstdc++ are on every machine; the CUDA libraries come from the GPU machine's own toolkit.
for b in "$stage"/bin/*; do
  ldd "$b" | awk '/=> \//{print $3}' | grep -vE 'libc\.so|libm\.so|libdl\.so|libpthread|librt\.so|libstdc\+\+|libgcc_s|ld-linux|libcuda|libcublas|libcudart|libnvrtc' || true
done | sort -u | while read -r lib; do cp -L "$lib" "$stage/lib/"; done
# CUPTI for the kernel profiler (loaded at run time, so ldd does not list it): the toolkit's own,
# of the version the profiler was compiled against.
cupti=$(ls /usr/local/cuda/lib64/libcupti.so.13 /usr/local/cuda/lib/libcupti.so.13 \
  /usr/local/cuda/extras/CUPTI/lib64/libcupti.so.13 2>/dev/null | head -1 || true)
if [ -n "$cupti" ]; then cp -L "$cupti" "$stage/lib/"; else echo "libcupti.so.13 not found: the kernel profile stage will say so"; fi
# The reference fixtures the CUDA model tests read (scripts/shared_dir.sh finds them; they do not
# travel to the GPU machine otherwise).
source scripts/shared_dir.sh
shared=${RSCAPRET_SHARED:-}
if [ -n "$shared" ] && [ -d "$shared/fixtures/hf" ]; then
  mkdir -p "$stage/shared/fixtures" && cp -r "$shared/fixtures/hf" "$stage/shared/fixtures/"
  du -sh "$stage/shared" | sed 's/^/fixtures: /'
fi
mkdir -p .gpu
tar -C "$stage" -cJf .gpu/pack.tar.xz .
rm -rf "$stage"
ls -la .gpu/pack.tar.xz
echo "carry .gpu, then on the GPU machine: bash bench/gpu/check.sh"
