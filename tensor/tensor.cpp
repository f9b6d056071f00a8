// Tensor: metadata, factories, element access, autograd state, broadcasting rule. Views are in
// tensor_views.cpp, copies in tensor_copy.cpp.
#include "tensor/tensor.h"

#include "kernels/cuda/cuda_kernels.h"

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
  if (device.is_cuda()) return full(shape, 0.0, dtype, device);
  Tensor t = empty(shape, dtype, Device::cpu());
  std::memset(t.raw_data(), 0, size_t(t.numel()) * t.element_size());
  return device.is_cpu() ? t : t.to(device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  if (device.is_cuda()) {
    Tensor t = empty(shape, dtype, device);
    kernels::cuda::fill(t.raw_data(), dtype, t.numel(), value, device.index);
    return t;
  }
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
template Tensor Tensor::from_vector(const std::vector<int8_t>&, const Shape&);
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
  for (int64_t i : index) t = t.select(0, i);
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
template std::vector<int8_t> Tensor::to_vector() const;

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
