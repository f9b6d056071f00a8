#include "bench/models/random_llama7b.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace rscapret::bench {

namespace fs = std::filesystem;

int64_t layers() {
  const char* e = std::getenv("RSCAPRET_BENCH_LAYERS");
  return e ? std::atoll(e) : 32;
}

fs::path model_dir() {
  const char* e = std::getenv("RSCAPRET_BENCH_DIR");
  return fs::path(e ? e : "/tmp/rscapret_llama7b") / ("layers" + std::to_string(layers()));
}

// Streams random bf16 tensors to model.safetensors without holding them in memory.
void write_llama7b(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors") && fs::exists(dir / "config.json")) return;
  fs::create_directories(dir);
  const int64_t C = 4096, F = 11008, V = 32000, L = layers();
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {{"model.embed_tokens.weight", {V, C}},
                                                                       {"model.norm.weight", {C}},
                                                                       {"lm_head.weight", {V, C}}};
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"})
      tensors.push_back({p + n + ".weight", {C, C}});
    tensors.push_back({p + "mlp.gate_proj.weight", {F, C}});
    tensors.push_back({p + "mlp.up_proj.weight", {F, C}});
    tensors.push_back({p + "mlp.down_proj.weight", {C, F}});
    tensors.push_back({p + "input_layernorm.weight", {C}});
    tensors.push_back({p + "post_attention_layernorm.weight", {C}});
  }
  // Offsets in name order: the order nlohmann's (sorted) object iterates in below.
  std::sort(tensors.begin(), tensors.end());
  nlohmann::json header;
  int64_t offset = 0;
  for (const auto& [name, shape] : tensors) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    header[name] = {{"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {offset, offset + 2 * n}}};
    offset += 2 * n;
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::ofstream f(dir / "model.safetensors.tmp", std::ios::binary);
  const uint64_t hl = h.size();
  f.write(reinterpret_cast<const char*>(&hl), 8);
  f.write(h.data(), std::streamsize(h.size()));
  uint64_t state = 0x9E3779B97F4A7C15ull;
  std::vector<uint16_t> buf(1 << 20);
  for (auto it = header.begin(); it != header.end(); ++it) {
    const int64_t begin = it.value()["data_offsets"][0], end = it.value()["data_offsets"][1];
    const bool norm = it.key().find("norm") != std::string::npos;
    for (int64_t done = begin; done < end;) {
      const int64_t n = std::min<int64_t>(int64_t(buf.size()), (end - done) / 2);
      for (int64_t i = 0; i < n; ++i) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;  // xorshift64
        const float u = float(int32_t(state >> 32)) * (0.02f / 2147483648.0f);
        buf[size_t(i)] = f32_to_bf16(norm ? 1.0f + u : u);
      }
      f.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(2 * n));
      done += 2 * n;
    }
  }
  f.close();
  std::ofstream(dir / "config.json") << nlohmann::json{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"},
                                                        {"hidden_size", C}, {"intermediate_size", F},
                                                        {"num_hidden_layers", L}, {"num_attention_heads", 32},
                                                        {"num_key_value_heads", 32}, {"vocab_size", V},
                                                        {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0},
                                                        {"torch_dtype", "bfloat16"}}
                                            .dump(2);
  fs::rename(dir / "model.safetensors.tmp", dir / "model.safetensors");
}

double peak_rss_gb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1e6;  // kB -> GB
  return 0;
}

}  // namespace rscapret::bench
