#!/usr/bin/env bash
# Installs the Debian packages rscapret needs, only those that are missing.
# Runs `apt-get update` once, and only when something has to be installed.
# Needs root (or sudo) the first time; afterwards it is a no-op.
# RSCAPRET_OPTIONAL_PACKAGES (e.g. "chromium", set by .ci/run) are installed too when missing, in the
# same single update, but failing to install them is only a warning.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libopenblas-dev      # f32 GEMM/GEMV on the CPU
  libhwy-dev           # Highway: portable SIMD with run-time ISA dispatch
  libstb-dev           # image decode/resize/write (JPEG, PNG, BMP)
  libtiff-dev          # TIFF images (UCM and Sydney ship TIFF)
  libjpeg-dev          # JPEG decoded bit-identically to PIL (CLIP's preprocessing); stb_image otherwise
  libxxhash-dev        # content hashes: checkpoints, determinism checks
  nlohmann-json3-dev   # JSON: configs, safetensors headers, datasets
  libcli11-dev         # command-line parsing
  zlib1g-dev           # gzip (CLIP's BPE vocabulary ships gzipped)
  libstemmer-dev       # Snowball stemmer for METEOR
  libgtest-dev         # unit tests
  libbenchmark-dev     # benchmarks in bench/
  libsentencepiece-dev # bench/ only: the reference LLaMA tokenizer our tokenizer is timed against
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
optional=()
for p in ${RSCAPRET_OPTIONAL_PACKAGES:-}; do
  installed "$p" || optional+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
  exit 0
fi

echo "rscapret: installing missing Debian packages: ${missing[*]} ${optional[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    [ ${#missing[@]} -eq 0 ] && exit 0  # only optional ones: go on without them
    echo "rscapret: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ${#optional[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
    echo "rscapret: could not install optional packages ${optional[*]}; the checks that use them will be skipped" >&2
fi
