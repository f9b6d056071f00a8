#include "nn/attention.h"

#include <tuple>

namespace rscapret::nn {

namespace {

AttentionConfig resolve(AttentionConfig c) {
  RS_CHECK(c.hidden_size > 0 && c.num_heads > 0, ValueError, "Attention", "hidden_size and num_heads must be positive, got ",
           c.hidden_size, " and ", c.num_heads);
  if (c.num_kv_heads == 0) c.num_kv_heads = c.num_heads;
  if (c.head_dim == 0) {
    RS_CHECK(c.hidden_size % c.num_heads == 0, ValueError, "Attention", "hidden_size ", c.hidden_size,
             " is not divisible by num_heads ", c.num_heads, " (set head_dim)");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  RS_CHECK(c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0, ValueError, "Attention", "num_heads ",
           c.num_heads, " must be a multiple of num_kv_heads ", c.num_kv_heads);
  return c;
}

}  // namespace

Tensor consecutive_positions(int64_t past, int64_t T) {
  Tensor pos = Tensor::empty({T}, DType::i64);
  int64_t* p = pos.data<int64_t>();
  for (int64_t i = 0; i < T; ++i) p[i] = past + i;
  return pos;
}

Attention::Attention(const AttentionConfig& config, const Init& init) : Module("Attention"), cfg_(resolve(config)) {
  const int64_t C = cfg_.hidden_size, H = cfg_.num_heads, Hkv = cfg_.num_kv_heads, D = cfg_.head_dim;
  q_proj = register_module(cfg_.q_name, std::make_shared<Linear>(C, H * D, cfg_.bias, init));
  k_proj = register_module(cfg_.k_name, std::make_shared<Linear>(C, Hkv * D, cfg_.bias, init));
  v_proj = register_module(cfg_.v_name, std::make_shared<Linear>(C, Hkv * D, cfg_.bias, init));
  o_proj = register_module(cfg_.out_name, std::make_shared<Linear>(H * D, C, cfg_.bias, init));
}

bool Attention::takes_bf16_input(const Tensor& x, std::initializer_list<const Tensor*> producer_params) const {
  if (q_proj->is_quantized() || k_proj->is_quantized() || v_proj->is_quantized()) return false;
  return ops::linear_takes_bf16(x, q_proj->weight, q_proj->bias, producer_params) &&
         ops::linear_takes_bf16(x, k_proj->weight, k_proj->bias, producer_params) &&
         ops::linear_takes_bf16(x, v_proj->weight, v_proj->bias, producer_params);
}

bool Attention::bf16_projections(const Tensor& x, const AttentionArgs& args) const {
  if (cfg_.rope || cfg_.composed || args.cache || q_proj->is_quantized() || k_proj->is_quantized() ||
      v_proj->is_quantized())
    return false;  // rope would compute on rounded values, a cache keeps its dtype, the oracle stays f32
  const int64_t D = cfg_.head_dim;
  return ops::attention_takes_bf16(x.device(), D, D, ops::AttentionOptions{args.causal, args.key_keep, cfg_.scale}) &&
         ops::linear_takes_bf16(x, q_proj->weight, q_proj->bias) && ops::linear_takes_bf16(x, k_proj->weight, k_proj->bias) &&
         ops::linear_takes_bf16(x, v_proj->weight, v_proj->bias);
}

Tensor Attention::forward(const Tensor& x, const AttentionArgs& args) const {
  RS_CHECK(x.dim() == 3 && x.shape()[2] == cfg_.hidden_size, ShapeError, "Attention", "x must be [B, T, C = ",
           cfg_.hidden_size, "], got ", format_shape(x.shape()));
  const int64_t B = x.shape()[0], T = x.shape()[1];
  const int64_t H = cfg_.num_heads, Hkv = cfg_.num_kv_heads, D = cfg_.head_dim;
  const int64_t past = args.cache ? args.cache->length() : 0;

  Tensor q, k, v;
  // At decode on a GPU one kernel makes q, k and v (plain layers without bias), the input norm
  // applied as it loads x where it can be; otherwise the norm runs first.
  const bool plain = x.device().is_cuda() && !cfg_.bias && !q_proj->is_quantized() && !k_proj->is_quantized() &&
                     !v_proj->is_quantized();
  auto decode_qkv = [&](const Tensor& in, const ops::InputRmsNorm* norm) {
    return ops::decode_linears(in, {q_proj->weight, k_proj->weight, v_proj->weight}, norm);
  };
  Tensor qkv;
  if (plain && args.input_norm) {
    const ops::InputRmsNorm norm = args.input_norm->as_input_norm();
    qkv = decode_qkv(x, &norm);
  }
  const Tensor xn = args.input_norm && !qkv.defined() ? args.input_norm->forward(x) : x;  // the projections' input
  if (plain && !qkv.defined()) qkv = decode_qkv(xn, nullptr);
  if (qkv.defined()) {  // [B, T, (H + 2 Hkv) D]
    q = ops::reshape(ops::narrow(qkv, 2, 0, H * D), {B, T, H, D});
    k = ops::reshape(ops::narrow(qkv, 2, H * D, Hkv * D), {B, T, Hkv, D});
    v = ops::reshape(ops::narrow(qkv, 2, (H + Hkv) * D, Hkv * D), {B, T, Hkv, D});
  } else if (bf16_projections(xn, args)) {
    // The bf16 handoff: the tensor-core attention rounds q, k and v to bf16 as it takes them, so
    // the projections' GEMMs write them in bf16 (same bits, half the bytes, no cast passes).
    q = ops::reshape(ops::linear_bf16_out(xn, q_proj->weight, q_proj->bias), {B, T, H, D});    // [B, T, H, D]
    k = ops::reshape(ops::linear_bf16_out(xn, k_proj->weight, k_proj->bias), {B, T, Hkv, D});  // [B, T, Hkv, D]
    v = ops::reshape(ops::linear_bf16_out(xn, v_proj->weight, v_proj->bias), {B, T, Hkv, D});  // [B, T, Hkv, D]
  } else {
    q = ops::reshape(q_proj->forward(xn), {B, T, H, D});    // [B, T, H, D]
    k = ops::reshape(k_proj->forward(xn), {B, T, Hkv, D});  // [B, T, Hkv, D]
    v = ops::reshape(v_proj->forward(xn), {B, T, Hkv, D});  // [B, T, Hkv, D]
  }
  bool appended = false;
  if (cfg_.rope) {
    // New tokens continue after the cached ones unless the caller says otherwise (left padding).
    const Tensor pos = args.positions.defined() ? args.positions : consecutive_positions(past, T);
    // At inference on a GPU, rope of q and k and the cache write are one launch.
    LayerKVCache::Rotated r;
    appended = args.cache && !cfg_.composed &&
               args.cache->append_rotated(q, k, v, pos, cfg_.rope_theta, cfg_.rope_layout, cfg_.rotary_dim, &r);
    if (appended) {
      q = r.q, k = r.keys, v = r.values;  // [B, T, H, D], [B, Hkv, Tk, D] x 2
    } else {
      q = ops::rope(q, pos, cfg_.rope_theta, cfg_.rope_layout, cfg_.rotary_dim);
      k = ops::rope(k, pos, cfg_.rope_theta, cfg_.rope_layout, cfg_.rotary_dim);
    }
  }
  q = ops::transpose(q, 1, 2);  // [B, H, T, D]
  if (!appended) {
    k = ops::transpose(k, 1, 2);                                // [B, Hkv, T, D]
    v = ops::transpose(v, 1, 2);                                // [B, Hkv, T, D]
    if (args.cache) std::tie(k, v) = args.cache->append(k, v);  // [B, Hkv, Tk, D]
  }

  // The causal rule places query i at Tk - T + i, which is exactly its position after a cache.
  ops::AttentionOptions opt{args.causal, args.key_keep, cfg_.scale};
  // The bf16 handoff again: o_proj rounds its input to bf16, which the tensor-core kernel makes
  // (xn: a gradient the input norm's weight wants is one the handoff must not cut).
  opt.bf16_out = !cfg_.composed && ops::attention_takes_bf16(x.device(), D, D, opt) && !o_proj->is_quantized() &&
                 ops::linear_takes_bf16(xn, o_proj->weight, o_proj->bias,
                                        {&q_proj->weight, &q_proj->bias, &k_proj->weight, &k_proj->bias,
                                         &v_proj->weight, &v_proj->bias});
  Tensor o = cfg_.composed ? ops::attention_composed(q, k, v, opt) : ops::attention(q, k, v, opt);  // [B, H, T, D]
  o = ops::reshape(ops::transpose(o, 1, 2), {B, T, H * D});  // [B, T, H * D]
  return args.residual.defined() ? o_proj->forward_add(o, args.residual) : o_proj->forward(o);  // [B, T, C]
}

}  // namespace rscapret::nn
