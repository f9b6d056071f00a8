// llama2.c legacy checkpoints (karpathy/llama2.c `run.c` format, "version 0"):
//   7 int32 header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//   (vocab_size < 0 means an unshared classifier), then float32 arrays in this order:
//   token_embedding [V, C], rms_att [L, C], wq [L, C, C], wk [L, Ckv, C], wv [L, Ckv, C],
//   wo [L, C, C], rms_ffn [L, C], w1 [L, F, C], w2 [L, C, F], w3 [L, F, C], rms_final [C],
//   freq_cis_real/imag [seq_len, D/2] (unused), wcls [V, C] when unshared.
//
// Decision: q/k rows are permuted at load from Meta's interleaved-pair RoPE layout to Hugging
// Face's half-split layout (within each head, row 2i -> i and 2i+1 -> i + D/2), so one LLaMA
// model (half-split RoPE) runs both formats. Only wq/wk are copied; every other weight is a
// zero-copy view of the mapped file.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "models/config/model_config.h"
#include "tensor/tensor.h"

namespace rscapret::models {

struct Llama2cCheckpoint {
  LlamaConfig config;
  std::map<std::string, Tensor> tensors;  // Hugging Face names (model.layers.0.self_attn.q_proj.weight ...)
};

// Throws FormatError naming the file when the header is implausible or the file is too short.
Llama2cCheckpoint load_llama2c(const std::filesystem::path& path);

// Meta interleaved-pair rows -> HF half-split rows for a [n_heads * head_dim, in] projection.
Tensor permute_rope_rows_to_half_split(const Tensor& w, int64_t n_heads, int64_t head_dim);

}  // namespace rscapret::models
