// Tensor copies: the strided host copy with dtype conversion, and contiguous/clone/to/copy_from.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "tensor/device_backend.h"
#include "tensor/element.h"
#include "tensor/tensor.h"

namespace rscapret {

namespace {

// src into dst (same shape, both on the same CUDA device, any strides and dtypes) in one kernel:
// operand 0 of the loop reads src, operand 1 addresses dst.
void copy_strided_device(const Tensor& src, const Tensor& dst) {
  if (src.numel() == 0) return;
  kernels::BroadcastLoop loop;
  loop.ndim = src.dim();
  for (int d = 0; d < src.dim(); ++d) {
    loop.shape[d] = src.shape()[d];
    loop.strides[0][d] = src.strides()[d];
    loop.strides[1][d] = dst.strides()[d];
  }
  kernels::cuda::strided_copy(src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), loop, dst.device().index);
}

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
  if (device().is_cuda()) {
    Tensor out = empty(shape_, dtype_, device());
    copy_strided_device(*this, out);
    return out;
  }
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
  if (device().is_cuda()) {
    Tensor out = empty(shape_, dtype, device());
    copy_strided_device(*this, out);
    return out;
  }
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
  // A host source travels in its own dtype (fewest bytes); the kernel converts and scatters.
  copy_strided_device(src.device() == device() ? src : src.contiguous().to(device()), *this);
}

}  // namespace rscapret
