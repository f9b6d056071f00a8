// Tensor: a strided view (shape, strides in elements, element offset, dtype) of shared Storage.
// Views (view, permute, transpose, narrow, slice, select, expand, squeeze, unsqueeze) never copy;
// contiguous, clone and to() do. Row-major; a stride of 0 means a broadcast dimension.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/storage.h"

namespace rscapret {

namespace autograd {
struct Node;
}
struct AutogradMeta;

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

inline constexpr int kMaxDims = 8;

int64_t shape_numel(const Shape& shape);
Strides contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, int64_t offset, DType dtype);

  // ---- factories ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32) { return full(shape, 1.0, dtype); }
  static Tensor scalar(double value, DType dtype = DType::f32) { return full({}, value, dtype); }
  static Tensor arange(int64_t n, DType dtype = DType::i64);
  // Copies host values into a new tensor of the matching dtype.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);

  // ---- metadata ----
  bool defined() const { return storage_ != nullptr; }
  int dim() const { return int(shape_.size()); }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t size(int d) const;
  int64_t stride(int d) const;
  int64_t offset() const { return offset_; }
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t element_size() const { return dtype_size(dtype_); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  std::string describe() const;  // "f32(2,3) cpu"

  // ---- raw access (host) ----
  void* raw_data() const;  // pointer to element 0 of this view
  template <typename T>
  T* data() const {
    RS_CHECK(dtype_of<T>::value == dtype_, DTypeError, "data", "requested ", dtype_name(dtype_of<T>::value),
             " pointer of a ", dtype_name(dtype_), " tensor");
    return static_cast<T*>(raw_data());
  }
  // Element as double, any dtype (slow; for tests and printing).
  double item() const;
  double at(std::initializer_list<int64_t> index) const;
  // Copies into a host vector of T, converting from any dtype (slow; for tests).
  template <typename T>
  std::vector<T> to_vector() const;

  // ---- views (no copy) ----
  Tensor view(const Shape& shape) const;     // one dim may be -1; needs compatible strides
  Tensor reshape(const Shape& shape) const;  // a view when possible, otherwise a copy
  Tensor permute(const std::vector<int>& dims) const;
  Tensor transpose(int d0, int d1) const;
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;  // broadcast size-1 dims (and add leading dims)
  Tensor squeeze(int dim) const;
  Tensor unsqueeze(int dim) const;

  // ---- copies ----
  Tensor contiguous() const;  // this if already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;    // this if already that dtype
  Tensor to(Device device) const;  // this if already there
  // Writes src (same shape, any dtype, same device) into this view, converting.
  void copy_from(const Tensor& src);

  // Normalises a possibly negative dim against dim(); throws IndexError naming op.
  int wrap_dim(int d, const char* op, int extra = 0) const;

  // ---- autograd state (the engine is in autograd/; the tensor only carries the data) ----
  // The raw views and copies above return tensors WITHOUT autograd state; differentiable views
  // are ops::reshape, ops::transpose, ... (autograd/ops.h).
  bool requires_grad() const;           // a leaf that asked for it, or the output of a recorded op
  Tensor& set_requires_grad(bool on);   // leaves only (ValueError on a recorded output)
  bool is_leaf() const;                 // not produced by a recorded op
  Tensor grad() const;                  // accumulated gradient of a leaf; undefined when none
  void set_grad(const Tensor& g);       // e.g. Tensor() to clear it
  const std::shared_ptr<AutogradMeta>& autograd_meta() const { return autograd_; }
  void set_autograd_meta(std::shared_ptr<AutogradMeta> meta) { autograd_ = std::move(meta); }

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::f32;
  std::shared_ptr<AutogradMeta> autograd_;
};

// Autograd identity of a tensor handle (shared by copies of the handle, not by raw views).
struct AutogradMeta {
  bool requires_grad = false;                // leaves: whether to accumulate a gradient
  Tensor grad;                               // leaves: the accumulated gradient
  std::shared_ptr<autograd::Node> grad_fn;   // recorded outputs: the node that produced them
};

// Element-wise strided copy with dtype conversion between two host views of the same shape
// (the scalar data-movement primitive under contiguous/to/clone).
void copy_strided_host(const Tensor& src, const Tensor& dst);

// Shape that a and b broadcast to (NumPy rules); throws ShapeError naming op.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace rscapret
