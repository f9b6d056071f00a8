// Tensor views: new shape/strides/offset over the same storage, never a copy.
#include <algorithm>

#include "tensor/tensor.h"

namespace rscapret {

Tensor Tensor::view(const Shape& requested) const {
  // Resolve a single -1.
  Shape shape = requested;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < int(shape.size()); ++i) {
    if (shape[i] == -1) {
      RS_CHECK(infer < 0, ShapeError, "view", "more than one -1 in ", format_shape(requested));
      infer = i;
    } else {
      RS_CHECK(shape[i] >= 0, ShapeError, "view", "invalid shape ", format_shape(requested));
      known *= shape[i];
    }
  }
  const int64_t n = numel();
  if (infer >= 0) {
    RS_CHECK(known != 0 && n % known == 0, ShapeError, "view", "cannot view ", format_shape(shape_),
             " as ", format_shape(requested));
    shape[infer] = n / known;
  }
  RS_CHECK(shape_numel(shape) == n, ShapeError, "view", "cannot view ", format_shape(shape_), " (",
           n, " elements) as ", format_shape(requested));

  // Match groups of old dims to groups of new dims; each old group must be contiguous in itself.
  Strides new_strides(shape.size());
  if (n == 0) {
    new_strides = contiguous_strides(shape);
  } else {
    // Drop size-1 dims of the old shape (their strides do not matter).
    Shape os;
    Strides ost;
    for (int i = 0; i < dim(); ++i)
      if (shape_[i] != 1) os.push_back(shape_[i]), ost.push_back(strides_[i]);
    size_t oi = 0;
    int ni = 0;
    const int nd = int(shape.size());
    while (ni < nd) {
      if (shape[ni] == 1) {
        new_strides[ni] = 1;
        ++ni;
        continue;
      }
      RS_ASSERT(oi < os.size(), "view grouping");
      // Take old dims until their product covers the new dims taken.
      int64_t old_prod = os[oi];
      size_t oj = oi;
      int64_t new_prod = shape[ni];
      int nj = ni;
      while (old_prod != new_prod) {
        if (old_prod < new_prod) {
          ++oj;
          RS_CHECK(ost[oj - 1] == ost[oj] * os[oj], ShapeError, "view", "cannot view non-contiguous ",
                   format_shape(shape_), " strides ", format_shape(strides_), " as ",
                   format_shape(requested), "; use reshape (copies)");
          old_prod *= os[oj];
        } else {
          ++nj;
          new_prod *= shape[nj];
        }
      }
      // Old group [oi..oj] is contiguous with innermost stride ost[oj]; lay the new dims over it.
      int64_t s = ost[oj];
      for (int k = nj; k >= ni; --k) {
        new_strides[k] = s;
        if (shape[k] != 1) s *= shape[k];
      }
      oi = oj + 1;
      ni = nj + 1;
    }
  }
  return Tensor(storage_, shape, new_strides, offset_, dtype_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  try {
    return view(shape);
  } catch (const ShapeError&) {
    return contiguous().view(shape);
  }
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  RS_CHECK(int(dims.size()) == dim(), ShapeError, "permute", dims.size(), " dims given for ",
           format_shape(shape_));
  std::vector<bool> seen(dim(), false);
  Shape s(dim());
  Strides st(dim());
  for (int i = 0; i < dim(); ++i) {
    const int d = wrap_dim(dims[i], "permute");
    RS_CHECK(!seen[d], ShapeError, "permute", "dimension ", d, " repeated");
    seen[d] = true;
    s[i] = shape_[d];
    st[i] = strides_[d];
  }
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::transpose(int d0, int d1) const {
  d0 = wrap_dim(d0, "transpose");
  d1 = wrap_dim(d1, "transpose");
  Shape s = shape_;
  Strides st = strides_;
  std::swap(s[d0], s[d1]);
  std::swap(st[d0], st[d1]);
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  d = wrap_dim(d, "narrow");
  RS_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d], IndexError, "narrow", "range [",
           start, ", ", start + length, ") out of bounds for dim ", d, " of ", format_shape(shape_));
  Shape s = shape_;
  s[d] = length;
  return Tensor(storage_, s, strides_, offset_ + start * strides_[d], dtype_);
}

Tensor Tensor::slice(int d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, "slice");
  RS_CHECK(step > 0, ValueError, "slice", "step must be positive, got ", step);
  const int64_t n = shape_[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape_;
  Strides st = strides_;
  s[d] = (end - start + step - 1) / step;
  st[d] = strides_[d] * step;
  return Tensor(storage_, s, st, offset_ + start * strides_[d], dtype_);
}

Tensor Tensor::select(int d, int64_t index) const {
  d = wrap_dim(d, "select");
  const int64_t n = shape_[d];
  RS_CHECK(index >= -n && index < n, IndexError, "select", "index ", index, " out of range for dim ", d,
           " of ", format_shape(shape_));
  if (index < 0) index += n;
  Shape s = shape_;
  Strides st = strides_;
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return Tensor(storage_, s, st, offset_ + index * strides_[d], dtype_);
}

Tensor Tensor::expand(const Shape& shape) const {
  RS_CHECK(int(shape.size()) >= dim(), ShapeError, "expand", "cannot expand ", format_shape(shape_),
           " to fewer dims ", format_shape(shape));
  const int lead = int(shape.size()) - dim();
  Shape s(shape.size());
  Strides st(shape.size());
  for (int i = 0; i < int(shape.size()); ++i) {
    if (i < lead) {
      RS_CHECK(shape[i] >= 0, ShapeError, "expand", "invalid target ", format_shape(shape));
      s[i] = shape[i];
      st[i] = 0;
      continue;
    }
    const int64_t have = shape_[i - lead];
    const int64_t want = shape[i] == -1 ? have : shape[i];
    if (have == want) {
      s[i] = have;
      st[i] = strides_[i - lead];
    } else {
      RS_CHECK(have == 1, ShapeError, "expand", "cannot expand ", format_shape(shape_), " to ",
               format_shape(shape));
      s[i] = want;
      st[i] = 0;
    }
  }
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::squeeze(int d) const {
  d = wrap_dim(d, "squeeze");
  if (shape_[d] != 1) return *this;
  Shape s = shape_;
  Strides st = strides_;
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::unsqueeze(int d) const {
  d = wrap_dim(d, "unsqueeze", 1);
  Shape s = shape_;
  Strides st = strides_;
  const int64_t stride = d < dim() ? strides_[d] * shape_[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return Tensor(storage_, s, st, offset_, dtype_);
}

}  // namespace rscapret
