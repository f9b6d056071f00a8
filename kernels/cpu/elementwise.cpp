// Elementwise f32 kernels: unary functions, broadcast binary arithmetic, comparisons, where.
// Highway compiles this file once per ISA (foreach_target) and dispatches at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/elementwise.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/ref/ref_kernels.h"
#include "kernels/cpu/loop.h"
#include "kernels/cpu/simd_kernels.h"
#include "kernels/cpu/simd_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace rscapret::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
HWY_INLINE V ApplyUnary(D d, UnaryOp op, V x, float p) {
  const V one = hn::Set(d, 1.0f);
  switch (op) {
    case UnaryOp::neg: return hn::Neg(x);
    case UnaryOp::exp: return hn::Exp(d, x);
    case UnaryOp::log: return hn::Log(d, x);
    case UnaryOp::sqrt: return hn::Sqrt(x);
    case UnaryOp::rsqrt: return hn::Div(one, hn::Sqrt(x));
    case UnaryOp::tanh: return hn::Tanh(d, x);
    case UnaryOp::sigmoid: return Sigmoid(d, x);
    case UnaryOp::gelu_erf:
      return hn::Mul(hn::Mul(hn::Set(d, 0.5f), x),
                     hn::Add(one, Erf(d, hn::Mul(x, hn::Set(d, float(M_SQRT1_2))))));
    case UnaryOp::gelu_tanh: {
      const V inner = hn::Mul(hn::Set(d, 0.7978845608028654f),
                              hn::MulAdd(hn::Mul(hn::Set(d, 0.044715f), hn::Mul(x, x)), x, x));
      return hn::Mul(hn::Mul(hn::Set(d, 0.5f), x), hn::Add(one, hn::Tanh(d, inner)));
    }
    case UnaryOp::quick_gelu: return hn::Mul(x, Sigmoid(d, hn::Mul(hn::Set(d, 1.702f), x)));
    case UnaryOp::silu: return hn::Mul(x, Sigmoid(d, x));
    case UnaryOp::pow_scalar:
      if (p == 2.0f) return hn::Mul(x, x);
      if (p == 3.0f) return hn::Mul(hn::Mul(x, x), x);
      if (p == 0.5f) return hn::Sqrt(x);
      if (p == 1.0f) return x;
      if (p == -1.0f) return hn::Div(one, x);
      return x;  // other exponents take the scalar path (see UnaryF32)
    case UnaryOp::gelu_erf_grad: {
      const V cdf = hn::Mul(hn::Set(d, 0.5f), hn::Add(one, Erf(d, hn::Mul(x, hn::Set(d, float(M_SQRT1_2))))));
      const V pdf = hn::Mul(hn::Set(d, 0.3989422804014327f), hn::Exp(d, hn::Mul(hn::Set(d, -0.5f), hn::Mul(x, x))));
      return hn::MulAdd(x, pdf, cdf);
    }
    case UnaryOp::gelu_tanh_grad: {
      const V c = hn::Set(d, 0.7978845608028654f), k = hn::Set(d, 0.044715f), half = hn::Set(d, 0.5f);
      const V x2 = hn::Mul(x, x);
      const V t = hn::Tanh(d, hn::Mul(c, hn::MulAdd(hn::Mul(k, x2), x, x)));
      const V dt = hn::Mul(hn::Mul(hn::NegMulAdd(t, t, one), c), hn::MulAdd(hn::Mul(hn::Set(d, 3.0f), k), x2, one));
      return hn::Mul(half, hn::MulAdd(x, dt, hn::Add(one, t)));
    }
    case UnaryOp::quick_gelu_grad: {
      const V a = hn::Set(d, 1.702f);
      const V s = Sigmoid(d, hn::Mul(a, x));
      return hn::MulAdd(hn::Mul(hn::Mul(a, x), s), hn::Sub(one, s), s);
    }
    case UnaryOp::silu_grad: {
      const V s = Sigmoid(d, x);
      return hn::Mul(s, hn::MulAdd(x, hn::Sub(one, s), one));
    }
  }
  return x;
}

void UnaryF32(UnaryOp op, const float* HWY_RESTRICT x, float* HWY_RESTRICT y, int64_t n, float p) {
  if (op == UnaryOp::pow_scalar && !(p == 2.0f || p == 3.0f || p == 0.5f || p == 1.0f || p == -1.0f)) {
    // General exponents keep std::pow's exact semantics (negative bases, integer powers).
    for (int64_t i = 0; i < n; ++i) y[i] = std::pow(x[i], p);
    return;
  }
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(ApplyUnary(d, op, hn::LoadU(d, x + i), p), d, y + i);
  if (i < n) {  // the tail goes through one padded vector so it gets the same math as the body
    HWY_ALIGN float buf[64] = {};
    std::memcpy(buf, x + i, size_t(n - i) * sizeof(float));
    hn::Store(ApplyUnary(d, op, hn::Load(d, buf), p), d, buf);
    std::memcpy(y + i, buf, size_t(n - i) * sizeof(float));
  }
}

template <class D, class V>
HWY_INLINE V ApplyBinary(BinaryOp op, V a, V b) {
  switch (op) {
    case BinaryOp::add: return hn::Add(a, b);
    case BinaryOp::sub: return hn::Sub(a, b);
    case BinaryOp::mul: return hn::Mul(a, b);
    case BinaryOp::div: return hn::Div(a, b);
  }
  return a;
}

// One output row: a and b are read with inner strides sa, sb (0 = broadcast, 1 = dense).
void BinaryRowF32(BinaryOp op, const float* HWY_RESTRICT a, int64_t sa, const float* HWY_RESTRICT b,
                  int64_t sb, float* HWY_RESTRICT out, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  using V = hn::Vec<decltype(d)>;
  int64_t i = 0;
  if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
    const V a0 = hn::Set(d, a[0]), b0 = hn::Set(d, b[0]);
    for (; i + N <= n; i += N) {
      const V va = sa ? hn::LoadU(d, a + i) : a0;
      const V vb = sb ? hn::LoadU(d, b + i) : b0;
      hn::StoreU(ApplyBinary<decltype(d)>(op, va, vb), d, out + i);
    }
  }
  for (; i < n; ++i) out[i] = ref::binary_scalar(op, a[i * sa], b[i * sb]);
}

void CompareRowF32(CompareOp op, const float* HWY_RESTRICT a, int64_t sa, const float* HWY_RESTRICT b,
                   int64_t sb, bool* HWY_RESTRICT out, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<int32_t, decltype(d)> di;
  const hn::Rebind<uint8_t, decltype(d)> du8;
  const int64_t N = int64_t(hn::Lanes(d));
  using V = hn::Vec<decltype(d)>;
  int64_t i = 0;
  if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
    const V a0 = hn::Set(d, a[0]), b0 = hn::Set(d, b[0]);
    const auto one = hn::Set(di, 1);
    for (; i + N <= n; i += N) {
      const V va = sa ? hn::LoadU(d, a + i) : a0;
      const V vb = sb ? hn::LoadU(d, b + i) : b0;
      hn::Mask<decltype(d)> m;
      switch (op) {
        case CompareOp::eq: m = hn::Eq(va, vb); break;
        case CompareOp::ne: m = hn::Ne(va, vb); break;
        case CompareOp::lt: m = hn::Lt(va, vb); break;
        case CompareOp::le: m = hn::Le(va, vb); break;
        case CompareOp::gt: m = hn::Gt(va, vb); break;
        default: m = hn::Ge(va, vb); break;
      }
      const auto bits = hn::IfThenElseZero(hn::RebindMask(di, m), one);
      hn::StoreU(hn::DemoteTo(du8, bits), du8, reinterpret_cast<uint8_t*>(out + i));
    }
  }
  for (; i < n; ++i) {
    const float x = a[i * sa], y = b[i * sb];
    switch (op) {
      case CompareOp::eq: out[i] = x == y; break;
      case CompareOp::ne: out[i] = x != y; break;
      case CompareOp::lt: out[i] = x < y; break;
      case CompareOp::le: out[i] = x <= y; break;
      case CompareOp::gt: out[i] = x > y; break;
      default: out[i] = x >= y; break;
    }
  }
}

void WhereRowF32(const bool* HWY_RESTRICT c, int64_t sc, const float* HWY_RESTRICT a, int64_t sa,
                 const float* HWY_RESTRICT b, int64_t sb, float* HWY_RESTRICT out, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<int32_t, decltype(d)> di;
  const hn::Rebind<uint8_t, decltype(d)> du8;
  const int64_t N = int64_t(hn::Lanes(d));
  using V = hn::Vec<decltype(d)>;
  int64_t i = 0;
  if (sc == 1 && (sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
    const V a0 = hn::Set(d, a[0]), b0 = hn::Set(d, b[0]);
    for (; i + N <= n; i += N) {
      const auto cv = hn::PromoteTo(di, hn::LoadU(du8, reinterpret_cast<const uint8_t*>(c + i)));
      const auto m = hn::RebindMask(d, hn::Ne(cv, hn::Zero(di)));
      const V va = sa ? hn::LoadU(d, a + i) : a0;
      const V vb = sb ? hn::LoadU(d, b + i) : b0;
      hn::StoreU(hn::IfThenElse(m, va, vb), d, out + i);
    }
  }
  for (; i < n; ++i) out[i] = c[i * sc] ? a[i * sa] : b[i * sb];
}

// y += x (y and x do not overlap).
void AccumulateF32(float* HWY_RESTRICT y, const float* HWY_RESTRICT x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, y + i), hn::LoadU(d, x + i)), d, y + i);
  for (; i < n; ++i) y[i] += x[i];
}

}  // namespace rscapret::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rscapret::kernels {
HWY_EXPORT(UnaryF32);
HWY_EXPORT(BinaryRowF32);
HWY_EXPORT(CompareRowF32);
HWY_EXPORT(WhereRowF32);
HWY_EXPORT(AccumulateF32);

namespace simd {

void unary(UnaryOp op, const float* x, float* y, int64_t n, float param) {
  // Chunks are multiples of every vector width, so each element sees the same code path.
  parallel_for(0, n, 1 << 16, [&](int64_t b, int64_t e) {
    HWY_DYNAMIC_DISPATCH(UnaryF32)(op, x + b, y + b, e - b, param);
  });
}

void binary(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLoop& loop) {
  const BroadcastLoop l = collapse_loop(loop, 2);
  const int64_t sa = l.ndim ? l.strides[0][l.ndim - 1] : 0;
  const int64_t sb = l.ndim ? l.strides[1][l.ndim - 1] : 0;
  for_each_row(l, 2, [&](const std::array<int64_t, 3>& o, int64_t out_off, int64_t n) {
    HWY_DYNAMIC_DISPATCH(BinaryRowF32)(op, a + o[0], sa, b + o[1], sb, out + out_off, n);
  });
}

void compare(CompareOp op, const float* a, const float* b, bool* out, const BroadcastLoop& loop) {
  const BroadcastLoop l = collapse_loop(loop, 2);
  const int64_t sa = l.ndim ? l.strides[0][l.ndim - 1] : 0;
  const int64_t sb = l.ndim ? l.strides[1][l.ndim - 1] : 0;
  for_each_row(l, 2, [&](const std::array<int64_t, 3>& o, int64_t out_off, int64_t n) {
    HWY_DYNAMIC_DISPATCH(CompareRowF32)(op, a + o[0], sa, b + o[1], sb, out + out_off, n);
  });
}

void where(const bool* cond, const float* a, const float* b, float* out, const BroadcastLoop& loop) {
  const BroadcastLoop l = collapse_loop(loop, 3);
  const int64_t sc = l.ndim ? l.strides[0][l.ndim - 1] : 0;
  const int64_t sa = l.ndim ? l.strides[1][l.ndim - 1] : 0;
  const int64_t sb = l.ndim ? l.strides[2][l.ndim - 1] : 0;
  for_each_row(l, 3, [&](const std::array<int64_t, 3>& o, int64_t out_off, int64_t n) {
    HWY_DYNAMIC_DISPATCH(WhereRowF32)(cond + o[0], sc, a + o[1], sa, b + o[2], sb, out + out_off, n);
  });
}

void accumulate(float* y, const float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(AccumulateF32)(y, x, n); }

}  // namespace simd
}  // namespace rscapret::kernels
#endif  // HWY_ONCE
