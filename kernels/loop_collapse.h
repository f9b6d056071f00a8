// Collapsing a broadcast loop, shared by the CPU kernels, the CUDA kernels and the device copy
// (which lives in the tensor library, below rscapret_kernels: so this is header-only).
#pragma once

#include "kernels/kernel_types.h"

namespace rscapret::kernels {

// Merges adjacent dims that are contiguous for every operand and drops size-1 dims, so that
// kernels mostly see one long inner row. `operands` is how many strides entries are in use.
inline BroadcastLoop collapse_loop(const BroadcastLoop& in, int operands) {
  BroadcastLoop out;
  // Drop size-1 dims first (their strides are irrelevant).
  for (int d = 0; d < in.ndim; ++d) {
    if (in.shape[d] == 1) continue;
    const int o = out.ndim++;
    out.shape[o] = in.shape[d];
    for (int k = 0; k < operands; ++k) out.strides[k][o] = in.strides[k][d];
  }
  if (out.ndim <= 1) return out;
  // Merge dim d into d+1 when every operand steps over d exactly as over a full run of d+1.
  BroadcastLoop merged;
  merged.ndim = 1;
  merged.shape[0] = out.shape[0];
  for (int k = 0; k < operands; ++k) merged.strides[k][0] = out.strides[k][0];
  for (int d = 1; d < out.ndim; ++d) {
    const int m = merged.ndim - 1;
    bool can = true;
    for (int k = 0; k < operands; ++k) can = can && merged.strides[k][m] == out.strides[k][d] * out.shape[d];
    if (can) {
      merged.shape[m] *= out.shape[d];
      for (int k = 0; k < operands; ++k) merged.strides[k][m] = out.strides[k][d];
    } else {
      const int n = merged.ndim++;
      merged.shape[n] = out.shape[d];
      for (int k = 0; k < operands; ++k) merged.strides[k][n] = out.strides[k][d];
    }
  }
  return merged;
}

}  // namespace rscapret::kernels
