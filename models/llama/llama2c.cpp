#include "models/llama/llama2c.h"

#include <cstring>
#include <memory>

#include "tensor/error.h"
#include "tensor/mapped_file.h"

namespace rscapret::models {

Tensor permute_rope_rows_to_half_split(const Tensor& w, int64_t n_heads, int64_t head_dim) {
  RS_CHECK(w.dim() == 2 && w.shape()[0] == n_heads * head_dim && head_dim % 2 == 0, ShapeError, "llama2c",
           "cannot permute ", format_shape(w.shape()), " as ", n_heads, " heads of ", head_dim);
  const int64_t in = w.shape()[1];
  // [H, D/2, 2, in] -> [H, 2, D/2, in]: view index (h, i, p) is Meta row h*D + 2i + p.
  return w.view({n_heads, head_dim / 2, 2, in}).transpose(1, 2).contiguous().view({n_heads * head_dim, in});
}

Llama2cCheckpoint load_llama2c(const std::filesystem::path& path) {
  auto file = MappedFile::open(path);
  const std::string src = path.string();
  RS_CHECK(file->size() >= 28, FormatError, "llama2c", src, ": too short for the 28-byte header");
  int32_t h[7];
  std::memcpy(h, file->data(), sizeof(h));
  const int64_t C = h[0], F = h[1], L = h[2], H = h[3], Hkv = h[4], seq = h[6];
  const bool shared = h[5] > 0;
  const int64_t V = shared ? h[5] : -int64_t(h[5]);
  RS_CHECK(C > 0 && F > 0 && L > 0 && H > 0 && Hkv > 0 && V > 0 && seq > 0 && C % H == 0 && H % Hkv == 0 &&
               (C / H) % 2 == 0 && C < (1 << 20) && F < (1 << 22) && L < 4096 && V < (1 << 24) && seq < (1 << 24),
           FormatError, "llama2c", src, ": implausible header dim ", C, " hidden ", F, " layers ", L, " heads ", H,
           " kv_heads ", Hkv, " vocab ", h[5], " seq_len ", seq);
  const int64_t D = C / H, Ckv = Hkv * D;

  Llama2cCheckpoint out;
  LlamaConfig& c = out.config;
  c.vocab_size = V;
  c.hidden_size = C;
  c.intermediate_size = F;
  c.num_hidden_layers = L;
  c.num_attention_heads = H;
  c.num_key_value_heads = Hkv;
  c.head_dim = D;
  c.max_position_embeddings = seq;
  c.rms_norm_eps = 1e-5;  // run.c's rmsnorm
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = shared;

  // Expected size in floats, checked before any view is made.
  const int64_t n_floats = V * C + L * C + L * C * C + 2 * L * Ckv * C + L * C * C + L * C + 3 * L * F * C + C +
                           seq * D + (shared ? 0 : V * C);
  const uint64_t need = 28 + uint64_t(n_floats) * 4;
  RS_CHECK(file->size() >= need, FormatError, "llama2c", src, ": truncated: ", file->size(), " bytes, the header needs ",
           need);

  auto storage = Storage::wrap(const_cast<uint8_t*>(file->data()), file->size(), Device::cpu(), file, true);
  // Offsets are in bytes; 28 is a multiple of 4, so every float is aligned.
  int64_t off = 28;
  auto take = [&](const Shape& shape) {
    Tensor t(storage, shape, contiguous_strides(shape), off / 4, DType::f32);
    off += shape_numel(shape) * 4;
    return t;
  };
  // Element offsets are counted in f32 elements from the start of the storage (28 bytes = 7 floats).
  const Tensor emb = take({V, C});
  const Tensor rms_att = take({L, C});
  const Tensor wq = take({L, C, C});
  const Tensor wk = take({L, Ckv, C});
  const Tensor wv = take({L, Ckv, C});
  const Tensor wo = take({L, C, C});
  const Tensor rms_ffn = take({L, C});
  const Tensor w1 = take({L, F, C});
  const Tensor w2 = take({L, C, F});
  const Tensor w3 = take({L, F, C});
  const Tensor rms_final = take({C});
  off += seq * D * 4;  // freq_cis_real and freq_cis_imag, [seq, D/2] each
  const Tensor wcls = shared ? emb : take({V, C});

  auto& m = out.tensors;
  m["model.embed_tokens.weight"] = emb;
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = cat("model.layers.", l, ".");
    m[p + "input_layernorm.weight"] = rms_att.select(0, l);
    m[p + "self_attn.q_proj.weight"] = permute_rope_rows_to_half_split(wq.select(0, l), H, D);
    m[p + "self_attn.k_proj.weight"] = permute_rope_rows_to_half_split(wk.select(0, l), Hkv, D);
    m[p + "self_attn.v_proj.weight"] = wv.select(0, l);
    m[p + "self_attn.o_proj.weight"] = wo.select(0, l);
    m[p + "post_attention_layernorm.weight"] = rms_ffn.select(0, l);
    m[p + "mlp.gate_proj.weight"] = w1.select(0, l);
    m[p + "mlp.down_proj.weight"] = w2.select(0, l);
    m[p + "mlp.up_proj.weight"] = w3.select(0, l);
  }
  m["model.norm.weight"] = rms_final;
  if (!shared) m["lm_head.weight"] = wcls;
  return out;
}

}  // namespace rscapret::models
