#!/usr/bin/env bash
# Runs the CPU benchmarks that bench/RESULTS.md quotes, each with repetitions, medians only.
# Usage: bash bench/run_cpu.sh [build-dir]   (build first: bash scripts/build.sh)
# Machines here are shared: compare ratios within one run, not absolute times across runs.
set -euo pipefail
source "$(dirname "$0")/../scripts/shared_dir.sh"  # the data and tokenizer benchmarks read the shared files
b=${1:-build}
rep="--benchmark_repetitions=3 --benchmark_report_aggregates_only=true"
echo "== $(date -u) on $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$b/bench/cpu/bench_bandwidth" --benchmark_min_time=1 $rep | grep -E "median"
"$b/bench/cpu/bench_matmul" --benchmark_min_time=1 $rep | grep -E "median"
"$b/bench/cpu/bench_blocks" --benchmark_min_time=2 | grep -E "^BM_"
# The embedded default model (needs assets/); the full-size step and the 7B decoder write a
# 13.5 GB file and take minutes: run them by hand (bench/rscapret/bench_full_step, bench/models/bench_llama7b).
"$b/bench/rscapret/bench_tiny" --benchmark_min_time=3 | grep -E "^BM_"
