// Element types. Compute happens in f32 (and f64 for gradient checks); bf16/f16 hold weights;
// i32/i64 hold ids; u8 holds pixels; i8 holds quantized weights (q8_0 blocks, kernels/cpu/quant_q8.h);
// boolean holds masks (one byte per element).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rscapret {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, u8, i8, boolean };

inline constexpr DType kAllDTypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32,
                                       DType::i64, DType::u8,  DType::i8,  DType::boolean};

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);          // "f32", "bf16", ...
bool is_floating(DType t);                     // f32, f64, f16, bf16
// Parses "f32"/"float32"/"bf16"/"bfloat16"/... ; throws DTypeError on anything else.
DType dtype_from_name(std::string_view name);

// ---- 16-bit float conversions (scalar; the SIMD paths live in kernels/cpu) ----
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even, NaN kept quiet (as PyTorch and Highway do).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Maps a C++ type to its DType.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::i8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };

}  // namespace rscapret
