// A LLaMA-2-7B-shaped checkpoint with random bf16 weights (13.5 GB at 32 layers), written once to
// RSCAPRET_BENCH_DIR (default /tmp/rscapret_llama7b) and mmapped by the benchmarks that need a
// full-size decoder; RSCAPRET_BENCH_LAYERS=N makes a shorter one.
#pragma once

#include <cstdint>
#include <filesystem>

namespace rscapret::bench {

int64_t layers();                       // RSCAPRET_BENCH_LAYERS, default 32
std::filesystem::path model_dir();      // the folder for layers()
// Streams random bf16 tensors (N(0, ~0.01), norms ~1) to dir/model.safetensors + config.json, unless present.
void write_llama7b(const std::filesystem::path& dir);
double peak_rss_gb();                   // VmHWM of this process
}  // namespace rscapret::bench
