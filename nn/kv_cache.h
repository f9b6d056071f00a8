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

  void clear();
  void truncate(int64_t length);          // keep the first `length` positions (speculative rollback)
  void reorder(const Tensor& batch_index);  // i64 [B']: row b' <- row batch_index[b'] (beam search)

 private:
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
