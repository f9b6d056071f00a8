// Plain descriptions that the op layer hands to kernels: which elementwise function, and how
// broadcast operands are laid out. Kernels see raw pointers and these structs, never Tensors.
#pragma once

#include <array>
#include <cstdint>

namespace rscapret::kernels {

enum class UnaryOp : uint8_t {
  neg, exp, log, sqrt, rsqrt, tanh, sigmoid, gelu_erf, gelu_tanh, quick_gelu, silu, pow_scalar,
  // derivatives d/dx of the activations (their vjps multiply these by the cotangent)
  gelu_erf_grad, gelu_tanh_grad, quick_gelu_grad, silu_grad
};
enum class BinaryOp : uint8_t { add, sub, mul, div };
enum class CompareOp : uint8_t { eq, ne, lt, le, gt, ge };
enum class ReduceOp : uint8_t { sum, mean, max, logsumexp };
enum class RopeLayout : uint8_t {
  half_split,   // Hugging Face: pairs (i, i + D/2)
  interleaved,  // Meta / llama2.c: pairs (2i, 2i + 1)
};

inline constexpr int kLoopMaxDims = 8;

// A broadcast loop over a contiguous output of `shape`; operand k is read at
// sum_d index[d] * strides[k][d] (stride 0 on broadcast dims). Up to three operands (where).
struct BroadcastLoop {
  int ndim = 0;
  std::array<int64_t, kLoopMaxDims> shape{};
  std::array<std::array<int64_t, kLoopMaxDims>, 3> strides{};
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
};

}  // namespace rscapret::kernels
