#include "tensor/tensor.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "tensor/device_backend.h"
#include "tensor/element.h"

namespace rscapret {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    RS_CHECK(s >= 0, ShapeError, "shape", "negative dimension in ", format_shape(shape));
    // Overflow guard: a hostile file or a bug must not wrap around to a small allocation.
    RS_CHECK(s == 0 || n <= std::numeric_limits<int64_t>::max() / s, ShapeError, "shape",
             "element count overflows in ", format_shape(shape));
    n *= s;
  }
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides st(shape.size());
  int64_t s = 1;
  for (int i = int(shape.size()) - 1; i >= 0; --i) {
    st[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)),
      offset_(offset), dtype_(dtype) {
  RS_ASSERT(shape_.size() == strides_.size(), "shape/strides rank mismatch");
  RS_CHECK(shape_.size() <= size_t(kMaxDims), ShapeError, "tensor", "at most ", kMaxDims,
           " dimensions supported, got ", format_shape(shape_));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  const int64_t n = shape_numel(shape);
  RS_CHECK(size_t(n) <= (size_t(1) << 46) / dtype_size(dtype), ValueError, "empty",
           "tensor of shape ", format_shape(shape), " is too large");
  auto st = Storage::allocate(size_t(n) * dtype_size(dtype), device);
  return Tensor(std::move(st), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, Device::cpu());
  std::memset(t.raw_data(), 0, size_t(t.numel()) * t.element_size());
  return device.is_cpu() ? t : t.to(device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, Device::cpu());
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T v;
    store_from_double(&v, value);
    T* p = static_cast<T*>(t.raw_data());
    std::fill(p, p + t.numel(), v);
  });
  return device.is_cpu() ? t : t.to(device);
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = double(i);
  return t.to(dtype);
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  RS_CHECK(int64_t(values.size()) == shape_numel(shape), ShapeError, "from_vector", values.size(),
           " values do not fill shape ", format_shape(shape));
  Tensor t = empty(shape, dtype_of<T>::value);
  T* p = static_cast<T*>(t.raw_data());
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}
template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int64_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<uint8_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<bool>&, const Shape&);

int64_t Tensor::size(int d) const { return shape_[wrap_dim(d, "size")]; }
int64_t Tensor::stride(int d) const { return strides_[wrap_dim(d, "stride")]; }
Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (shape_[i] == 0) return true;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

std::string Tensor::describe() const {
  return cat(dtype_name(dtype_), format_shape(shape_), " ", device().str());
}

void* Tensor::raw_data() const {
  RS_CHECK(defined(), ValueError, "data", "tensor is undefined");
  return static_cast<char*>(storage_->data()) + offset_ * int64_t(element_size());
}

int Tensor::wrap_dim(int d, const char* op, int extra) const {
  const int n = dim() + extra;
  RS_CHECK(d >= -n && d < std::max(n, 1), IndexError, op, "dimension ", d, " out of range for ",
           format_shape(shape_));
  return d < 0 ? d + n : d;
}

double Tensor::item() const {
  RS_CHECK(numel() == 1, ShapeError, "item", "needs exactly one element, got ", format_shape(shape_));
  Tensor h = to(Device::cpu());
  return visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    return load_as_double(static_cast<const T*>(h.raw_data()));
  });
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  RS_CHECK(int(index.size()) == dim(), IndexError, "at", index.size(), " indices for ",
           format_shape(shape_));
  Tensor t = *this;
  int d = 0;
  for (int64_t i : index) t = t.select(0, i), ++d;
  return t.item();
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>::value).contiguous();
  const T* p = static_cast<const T*>(c.raw_data());
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector() const;
template std::vector<double> Tensor::to_vector() const;
template std::vector<int32_t> Tensor::to_vector() const;
template std::vector<int64_t> Tensor::to_vector() const;
template std::vector<uint8_t> Tensor::to_vector() const;

// ---------------------------------------------------------------- autograd state

bool Tensor::requires_grad() const { return autograd_ && (autograd_->requires_grad || autograd_->grad_fn); }
bool Tensor::is_leaf() const { return !autograd_ || !autograd_->grad_fn; }

Tensor& Tensor::set_requires_grad(bool on) {
  RS_CHECK(is_leaf(), ValueError, "requires_grad", "only leaf tensors can change requires_grad; use detach()");
  RS_CHECK(!on || is_floating(dtype_), DTypeError, "requires_grad", "only floating tensors can require grad, got ",
           describe());
  if (!autograd_) autograd_ = std::make_shared<AutogradMeta>();
  autograd_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return autograd_ ? autograd_->grad : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  RS_CHECK(!g.defined() || g.shape() == shape_, ShapeError, "set_grad", "gradient ", format_shape(g.shape()),
           " for tensor ", format_shape(shape_));
  if (!autograd_) autograd_ = std::make_shared<AutogradMeta>();
  autograd_->grad = g;
}

// ---------------------------------------------------------------- views

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

// ---------------------------------------------------------------- copies

namespace {

template <typename S, typename D>
void copy_typed(const Tensor& src, const Tensor& dst) {
  const int nd = src.dim();
  const int64_t n = src.numel();
  if (n == 0) return;
  const S* sp = static_cast<const S*>(src.raw_data());
  D* dp = static_cast<D*>(dst.raw_data());
  if (nd == 0) {
    if constexpr (std::is_same_v<S, D>) *dp = *sp;
    else store_from_double(dp, load_as_double(sp));
    return;
  }
  const int64_t inner = src.shape()[nd - 1];
  const int64_t ss = src.strides()[nd - 1], ds = dst.strides()[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  int64_t so = 0, dof = 0;
  for (int64_t done = 0; done < n; done += inner) {
    for (int64_t i = 0; i < inner; ++i) {
      if constexpr (std::is_same_v<S, D>) dp[dof + i * ds] = sp[so + i * ss];
      else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, float>) dp[dof + i * ds] = sp[so + i * ss];
      else store_from_double(dp + dof + i * ds, load_as_double(sp + so + i * ss));
    }
    // Advance the outer index odometer.
    for (int d = nd - 2; d >= 0; --d) {
      so += src.strides()[d];
      dof += dst.strides()[d];
      if (++idx[d] < src.shape()[d]) break;
      so -= src.strides()[d] * src.shape()[d];
      dof -= dst.strides()[d] * dst.shape()[d];
      idx[d] = 0;
    }
  }
}

// Same-type copy of a view whose last two dims are transposed (src strides (..., 1, ld)) into a
// dense destination: walked in 32 x 32 tiles so both sides stay in cache. The plain odometer
// above reads src with stride ld on every element, which is several times slower for weights.
template <typename T>
bool copy_transposed_tiles(const Tensor& src, const Tensor& dst) {
  const int nd = src.dim();
  if (nd < 2 || !dst.is_contiguous()) return false;
  const int64_t R = src.shape()[nd - 2], C = src.shape()[nd - 1];
  if (src.strides()[nd - 2] != 1 || src.strides()[nd - 1] == 1 || R < 16 || C < 16) return false;
  const int64_t ld = src.strides()[nd - 1];
  const int64_t batches = src.numel() / (R * C);  // R, C >= 16 here
  const T* sp = static_cast<const T*>(src.raw_data());
  T* dp = static_cast<T*>(dst.raw_data());
  constexpr int64_t kTile = 32;
  std::vector<int64_t> idx(size_t(std::max(nd - 2, 0)), 0);
  int64_t so = 0;
  for (int64_t b = 0; b < batches; ++b) {
    T* out = dp + b * R * C;
    for (int64_t r0 = 0; r0 < R; r0 += kTile)
      for (int64_t c0 = 0; c0 < C; c0 += kTile)
        for (int64_t c = c0; c < std::min(C, c0 + kTile); ++c)
          for (int64_t r = r0; r < std::min(R, r0 + kTile); ++r) out[r * C + c] = sp[so + r + c * ld];
    for (int d = nd - 3; d >= 0; --d) {  // next batch: odometer over the leading dims
      so += src.strides()[d];
      if (++idx[size_t(d)] < src.shape()[d]) break;
      so -= src.strides()[d] * src.shape()[d];
      idx[size_t(d)] = 0;
    }
  }
  return true;
}

}  // namespace

void copy_strided_host(const Tensor& src, const Tensor& dst) {
  RS_CHECK(src.shape() == dst.shape(), ShapeError, "copy", "shapes differ: ", format_shape(src.shape()),
           " vs ", format_shape(dst.shape()));
  RS_CHECK(src.device().is_cpu() && dst.device().is_cpu(), DeviceError, "copy",
           "host copy got ", src.describe(), " -> ", dst.describe());
  if (src.dtype() == dst.dtype()) {
    const bool done = visit_dtype(src.dtype(), [&](auto t) { return copy_transposed_tiles<decltype(t)>(src, dst); });
    if (done) return;
  }
  visit_dtype(src.dtype(), [&](auto s) {
    visit_dtype(dst.dtype(), [&](auto d) { copy_typed<decltype(s), decltype(d)>(src, dst); });
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  if (!device().is_cpu()) return to(Device::cpu()).to(device());
  Tensor out = empty(shape_, dtype_);
  copy_strided_host(*this, out);
  return out;
}

Tensor Tensor::clone() const {
  if (!device().is_cpu()) {
    Tensor c = contiguous();
    Tensor out = empty(shape_, dtype_, device());
    cuda_runtime::copy_device_to_device(out.raw_data(), c.raw_data(), size_t(numel()) * element_size(),
                                        device().index);
    return out;
  }
  Tensor out = empty(shape_, dtype_);
  copy_strided_host(*this, out);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  RS_CHECK(device().is_cpu(), DeviceError, "to", "dtype conversion of ", describe(),
           " needs the cast op on that device");
  Tensor out = empty(shape_, dtype);
  copy_strided_host(*this, out);
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  const size_t nbytes = size_t(numel()) * element_size();
  if (device.is_cuda() && this->device().is_cpu()) {
    Tensor c = contiguous();
    Tensor out = empty(shape_, dtype_, device);
    if (nbytes) cuda_runtime::copy_host_to_device(out.raw_data(), c.raw_data(), nbytes, device.index);
    return out;
  }
  if (device.is_cpu()) {
    if (!is_contiguous()) {
      // Bring the whole storage over, view it the same way on the host, then compact there.
      auto host = Storage::allocate(storage_->nbytes());
      if (storage_->nbytes())
        cuda_runtime::copy_device_to_host(host->data(), storage_->data(), storage_->nbytes(),
                                          this->device().index);
      return Tensor(host, shape_, strides_, offset_, dtype_).contiguous();
    }
    Tensor out = empty(shape_, dtype_);
    if (nbytes) cuda_runtime::copy_device_to_host(out.raw_data(), raw_data(), nbytes, this->device().index);
    return out;
  }
  return to(Device::cpu()).to(device);  // cuda:i -> cuda:j through the host
}

void Tensor::copy_from(const Tensor& src) {
  RS_CHECK(!(storage_ && storage_->read_only()), ValueError, "copy_from", "destination is read-only");
  RS_CHECK(src.shape() == shape_, ShapeError, "copy_from", "shapes differ: ", format_shape(src.shape()),
           " into ", format_shape(shape_));
  if (device().is_cpu()) {
    copy_strided_host(src.to(Device::cpu()), *this);
    return;
  }
  RS_CHECK(is_contiguous(), DeviceError, "copy_from", "non-contiguous device destination");
  Tensor s = src.to(dtype_).contiguous().to(device());
  cuda_runtime::copy_device_to_device(raw_data(), s.raw_data(), size_t(numel()) * element_size(),
                                      device().index);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    RS_CHECK(da == db || da == 1 || db == 1, ShapeError, op, "shapes do not broadcast: ", format_shape(a),
             " vs ", format_shape(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace rscapret
