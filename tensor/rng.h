// Counter-based random numbers (Philox-4x32-10). Element i of a draw depends only on (seed, offset + i),
// never on how the work is split, so results are the same with any thread count.
#pragma once

#include <array>
#include <cstdint>

#include "tensor/tensor.h"

namespace rscapret {

// One Philox-4x32-10 block: 4 random 32-bit words for counter `ctr` under key `key`.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key);

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  // how many counters have been used
  void set_offset(uint64_t off) { offset_ = off; }

  // f32/f64 tensors; each call advances the offset, so successive draws differ.
  Tensor uniform(const Shape& shape, double lo = 0.0, double hi = 1.0, DType dtype = DType::f32);
  Tensor normal(const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = DType::f32);
  // Uniform integers in [0, n).
  Tensor randint(const Shape& shape, int64_t n, DType dtype = DType::i64);

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

}  // namespace rscapret
