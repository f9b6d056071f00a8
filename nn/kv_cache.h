// Key/value cache for incremental decoding.
//
// Dimensions: B batch, Hkv key/value heads, T new tokens, Tc cached tokens, D head dim.
//
// Two regimes, chosen per append:
// - no gradient recorded (inference): k/v are written into a preallocated buffer whose capacity
//   doubles, so a token costs O(1) amortised copies, and the cache returns views of it;
// - gradient recorded (training through a cache, gradient checks): the cache grows with
//   ops::concat, so gradients reach the keys and values of earlier steps.
#pragma once

#include <utility>
#include <vector>

#include "autograd/ops.h"
#include "tensor/tensor.h"

namespace rscapret::nn {

class LayerKVCache {
 public:
  int64_t length() const { return len_; }  // Tc
  bool empty() const { return len_ == 0; }
  // All cached keys / values [B, Hkv, Tc, D] (undefined while empty).
  Tensor keys() const;
  Tensor values() const;

  // Appends k [B, Hkv, T, D] and v [B, Hkv, T, Dv]; returns all keys and values, Tc + T long.
  std::pair<Tensor, Tensor> append(const Tensor& k, const Tensor& v);

  // Attention's rope and append in one GPU launch at inference (ops::rope_append): q [B, T, H, D],
  // k and v [B, T, Hkv, D] before rope; appends rope(k) and v as append(transpose(.., 1, 2)) would
  // and sets q to rope(q), with the bits of the composed ops. False, with nothing changed but
  // perhaps the capacity, where the fused kernel does not apply (then rope and append).
  struct Rotated {
    Tensor q, keys, values;  // [B, T, H, D] rotated; all keys and values [B, Hkv, Tc + T, D]
  };
  bool append_rotated(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions, double theta,
                      ops::RopeLayout layout, int64_t rotary_dim, Rotated* out);

  void clear();
  void truncate(int64_t length);          // keep the first `length` positions (speculative rollback)
  void reorder(const Tensor& batch_index);  // i64 [B']: row b' <- row batch_index[b'] (beam search)

 private:
  // Room for T more positions in the inference regime's buffers (like k [B, Hkv, T, D], v).
  void reserve(const Tensor& k, const Tensor& v, int64_t T);

  Tensor k_, v_;     // [B, Hkv, capacity, D]; capacity == len_ after a recorded append
  int64_t len_ = 0;
};

class KVCache {
 public:
  explicit KVCache(int num_layers) : layers_(size_t(num_layers)) {}
  int num_layers() const { return int(layers_.size()); }
  LayerKVCache& layer(int i) { return layers_.at(size_t(i)); }
  const LayerKVCache& layer(int i) const { return layers_.at(size_t(i)); }
  // Positions already cached: the position of the next token (layer 0's length).
  int64_t length() const { return layers_.empty() ? 0 : layers_[0].length(); }

  void clear();
  void truncate(int64_t length);
  void reorder(const Tensor& batch_index);

 private:
  std::vector<LayerKVCache> layers_;
};

}  // namespace rscapret::nn
