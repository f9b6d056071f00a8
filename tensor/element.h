// Typed element access for every DType, used by the scalar data-movement code (copy, cast, item).
// f16 and bf16 are stored as uint16_t bit patterns; Half and BFloat16 name them for dispatch.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace rscapret {

struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

template <typename T> inline double load_as_double(const T* p) { return double(*p); }
template <> inline double load_as_double<Half>(const Half* p) { return f16_to_f32(p->bits); }
template <> inline double load_as_double<BFloat16>(const BFloat16* p) { return bf16_to_f32(p->bits); }

template <typename T> inline void store_from_double(T* p, double v) { *p = T(v); }
template <> inline void store_from_double<bool>(bool* p, double v) { *p = v != 0.0; }
template <> inline void store_from_double<Half>(Half* p, double v) { p->bits = f32_to_f16(float(v)); }
template <> inline void store_from_double<BFloat16>(BFloat16* p, double v) {
  p->bits = f32_to_bf16(float(v));
}

// Calls fn(T{}) with T the C++ element type of dtype.
template <typename Fn>
decltype(auto) visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: return fn(float{});
    case DType::f64: return fn(double{});
    case DType::f16: return fn(Half{});
    case DType::bf16: return fn(BFloat16{});
    case DType::i32: return fn(int32_t{});
    case DType::i64: return fn(int64_t{});
    case DType::u8: return fn(uint8_t{});
    case DType::i8: return fn(int8_t{});
    case DType::boolean: return fn(bool{});
  }
  RS_ASSERT(false, "unknown dtype");
}

}  // namespace rscapret
