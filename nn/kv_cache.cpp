#include "nn/kv_cache.h"

#include <algorithm>

#include "autograd/autograd.h"
#include "autograd/ops.h"

namespace rscapret::nn {

namespace {

constexpr int kSeq = 2;  // the token dim of [B, Hkv, T, D]

// A buffer of `capacity` positions holding the first `len` positions of old.
Tensor grow(const Tensor& old, int64_t len, int64_t capacity, const Tensor& like) {
  Shape shape = like.shape();
  shape[kSeq] = capacity;
  Tensor buf = Tensor::empty(shape, like.dtype(), like.device());
  if (len > 0) buf.narrow(kSeq, 0, len).copy_from(old.narrow(kSeq, 0, len));
  return buf;
}

// Whether a [B, Hkv, T, D] block may join a cache buffer [B, Hkv, capacity, D]: dtype, B, Hkv, D.
bool joins(const Tensor& block, const Tensor& buffer) {
  return block.dtype() == buffer.dtype() && block.shape()[0] == buffer.shape()[0] &&
         block.shape()[1] == buffer.shape()[1] && block.shape()[3] == buffer.shape()[3];
}

}  // namespace

// The whole tensor when it is exactly full (the recorded regime), else a view of the filled part.
Tensor LayerKVCache::keys() const {
  if (len_ == 0) return {};
  return len_ == k_.shape()[kSeq] ? k_ : ops::narrow(k_, kSeq, 0, len_);
}
Tensor LayerKVCache::values() const {
  if (len_ == 0) return {};
  return len_ == v_.shape()[kSeq] ? v_ : ops::narrow(v_, kSeq, 0, len_);
}

std::pair<Tensor, Tensor> LayerKVCache::append(const Tensor& k, const Tensor& v) {
  RS_CHECK(k.dim() == 4 && v.dim() == 4 && k.shape()[2] == v.shape()[2], ShapeError, "kv_cache",
           "k and v must be [B, Hkv, T, D] with the same T, got ", format_shape(k.shape()), " and ",
           format_shape(v.shape()));
  if (len_ > 0)
    RS_CHECK(joins(k, k_) && joins(v, v_), ShapeError, "kv_cache", "cannot append ", k.describe(), " to a cache of ",
             k_.describe());
  const int64_t T = k.shape()[kSeq];
  const bool record = autograd::needs_grad({&k, &v, &k_, &v_});
  if (record) {
    // Differentiable growth; the stored tensors keep the graph of the earlier steps.
    if (len_ == 0) {
      k_ = k, v_ = v;
    } else {
      k_ = ops::concat({keys(), k}, kSeq);
      v_ = ops::concat({values(), v}, kSeq);
    }
    len_ += T;
    return {k_, v_};
  }
  reserve(k, v, T);
  k_.narrow(kSeq, len_, T).copy_from(k);
  v_.narrow(kSeq, len_, T).copy_from(v);
  len_ += T;
  return {keys(), values()};
}

void LayerKVCache::reserve(const Tensor& k, const Tensor& v, int64_t T) {
  const int64_t need = len_ + T;
  if (len_ == 0 || need > k_.shape()[kSeq]) {
    const int64_t cap = std::max<int64_t>({need, 2 * (len_ ? k_.shape()[kSeq] : 0), 16});
    k_ = grow(k_, len_, cap, k);
    v_ = grow(v_, len_, cap, v);
  }
}

bool LayerKVCache::append_rotated(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                                  double theta, ops::RopeLayout layout, int64_t rotary_dim, Rotated* out) {
  if (!q.device().is_cuda() || k.dim() != 4 || v.dim() != 4) return false;
  const Tensor kt = k.transpose(1, 2), vt = v.transpose(1, 2);  // [B, Hkv, T, D]: what append takes
  if (len_ > 0 && (autograd::needs_grad({&k_, &v_}) || !joins(kt, k_) || !joins(vt, v_) || k_.device() != q.device()))
    return false;  // append's own checks and regimes decide these cases
  if (autograd::needs_grad({&q, &k, &v})) return false;
  const int64_t T = kt.shape()[kSeq];
  reserve(kt, vt, T);
  Tensor k_dst = k_.narrow(kSeq, len_, T), v_dst = v_.narrow(kSeq, len_, T);  // [B, Hkv, T, D]
  const Tensor q_rot = ops::rope_append(q, k, v, positions, theta, layout, rotary_dim, k_dst, v_dst);
  if (!q_rot.defined()) return false;
  len_ += T;
  *out = {q_rot, keys(), values()};
  return true;
}

void LayerKVCache::clear() {
  k_ = v_ = Tensor();
  len_ = 0;
}

void LayerKVCache::truncate(int64_t length) {
  RS_CHECK(length >= 0 && length <= len_, IndexError, "kv_cache", "truncate to ", length, " of ", len_);
  if (length == 0) return clear();
  // Narrow views keep the graph when recorded; in the buffer regime the tail is simply reused.
  if (k_.requires_grad() || v_.requires_grad()) {
    k_ = ops::narrow(k_, kSeq, 0, length);
    v_ = ops::narrow(v_, kSeq, 0, length);
  }
  len_ = length;
}

void LayerKVCache::reorder(const Tensor& batch_index) {
  if (len_ == 0) return;
  // index_select copies, so beams that share a parent get independent rows.
  k_ = ops::index_select(keys(), 0, batch_index);
  v_ = ops::index_select(values(), 0, batch_index);
}

void KVCache::clear() {
  for (auto& l : layers_) l.clear();
}
void KVCache::truncate(int64_t length) {
  for (auto& l : layers_) l.truncate(length);
}
void KVCache::reorder(const Tensor& batch_index) {
  for (auto& l : layers_) l.reorder(batch_index);
}

}  // namespace rscapret::nn
