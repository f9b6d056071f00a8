// Scalar elementwise references. Activations follow PyTorch's definitions exactly:
// gelu_erf = x/2 (1 + erf(x/sqrt2)); gelu_tanh = x/2 (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)));
// quick_gelu = x sigmoid(1.702 x) (CLIP); silu = x sigmoid(x).
#include <cmath>

#include "kernels/cpu/ref/ref_kernels.h"

namespace rscapret::kernels::ref {

template <typename T>
T unary_scalar(UnaryOp op, T x, T p) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::sigmoid: return T(1) / (T(1) + std::exp(-x));
    case UnaryOp::gelu_erf: return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
    case UnaryOp::gelu_tanh: {
      const T c = T(0.7978845608028654);  // sqrt(2/pi)
      return T(0.5) * x * (T(1) + std::tanh(c * (x + T(0.044715) * x * x * x)));
    }
    case UnaryOp::quick_gelu: return x / (T(1) + std::exp(T(-1.702) * x));
    case UnaryOp::silu: return x / (T(1) + std::exp(-x));
    case UnaryOp::pow_scalar: return std::pow(x, p);
    case UnaryOp::gelu_erf_grad:
      return T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2))) + x * std::exp(T(-0.5) * x * x) * T(0.3989422804014327);
    case UnaryOp::gelu_tanh_grad: {
      const T c = T(0.7978845608028654), k = T(0.044715);
      const T t = std::tanh(c * (x + k * x * x * x));
      return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * c * (T(1) + T(3) * k * x * x);
    }
    case UnaryOp::quick_gelu_grad: {
      const T s = T(1) / (T(1) + std::exp(T(-1.702) * x));
      return s + T(1.702) * x * s * (T(1) - s);
    }
    case UnaryOp::silu_grad: {
      const T s = T(1) / (T(1) + std::exp(-x));
      return s * (T(1) + x * (T(1) - s));
    }
  }
  return x;
}

template <typename T>
T binary_scalar(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return a;
}

template <typename T>
void unary(UnaryOp op, const T* x, T* y, int64_t n, T param) {
  for (int64_t i = 0; i < n; ++i) y[i] = unary_scalar(op, x[i], param);
}

// A plain odometer over the (uncollapsed) loop: the reference does not rely on collapse_loop.
template <typename Fn>
static void for_each_index(const BroadcastLoop& loop, int operands, Fn&& fn) {
  const int64_t n = loop.numel();
  std::array<int64_t, kLoopMaxDims> idx{};
  for (int64_t i = 0; i < n; ++i) {
    std::array<int64_t, 3> off{};
    for (int k = 0; k < operands; ++k)
      for (int d = 0; d < loop.ndim; ++d) off[k] += idx[d] * loop.strides[k][d];
    fn(i, off);
    for (int d = loop.ndim - 1; d >= 0; --d) {
      if (++idx[d] < loop.shape[d]) break;
      idx[d] = 0;
    }
  }
}

template <typename T>
void binary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastLoop& loop) {
  for_each_index(loop, 2, [&](int64_t i, const std::array<int64_t, 3>& o) {
    out[i] = binary_scalar(op, a[o[0]], b[o[1]]);
  });
}

template <typename T>
void compare(CompareOp op, const T* a, const T* b, bool* out, const BroadcastLoop& loop) {
  for_each_index(loop, 2, [&](int64_t i, const std::array<int64_t, 3>& o) {
    const T x = a[o[0]], y = b[o[1]];
    bool r = false;
    switch (op) {
      case CompareOp::eq: r = x == y; break;
      case CompareOp::ne: r = x != y; break;
      case CompareOp::lt: r = x < y; break;
      case CompareOp::le: r = x <= y; break;
      case CompareOp::gt: r = x > y; break;
      case CompareOp::ge: r = x >= y; break;
    }
    out[i] = r;
  });
}

template <typename T>
void where(const bool* cond, const T* a, const T* b, T* out, const BroadcastLoop& loop) {
  for_each_index(loop, 3, [&](int64_t i, const std::array<int64_t, 3>& o) {
    out[i] = cond[o[0]] ? a[o[1]] : b[o[2]];
  });
}

#define RS_INSTANTIATE(T)                                                                       \
  template T unary_scalar<T>(UnaryOp, T, T);                                                    \
  template T binary_scalar<T>(BinaryOp, T, T);                                                  \
  template void unary<T>(UnaryOp, const T*, T*, int64_t, T);                                    \
  template void binary<T>(BinaryOp, const T*, const T*, T*, const BroadcastLoop&);              \
  template void compare<T>(CompareOp, const T*, const T*, bool*, const BroadcastLoop&);         \
  template void where<T>(const bool*, const T*, const T*, T*, const BroadcastLoop&);
RS_INSTANTIATE(float)
RS_INSTANTIATE(double)
template void compare<int64_t>(CompareOp, const int64_t*, const int64_t*, bool*, const BroadcastLoop&);
template void compare<int32_t>(CompareOp, const int32_t*, const int32_t*, bool*, const BroadcastLoop&);
template void where<int64_t>(const bool*, const int64_t*, const int64_t*, int64_t*, const BroadcastLoop&);
template void where<bool>(const bool*, const bool*, const bool*, bool*, const BroadcastLoop&);
#undef RS_INSTANTIATE

}  // namespace rscapret::kernels::ref
