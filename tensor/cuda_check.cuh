// Checked CUDA runtime calls for the tensor library's device code.
#pragma once

#include <cuda_runtime.h>

#include "tensor/error.h"

namespace rscapret::cuda_runtime::detail {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw DeviceError(cat("[cuda] ", what, ": ", cudaGetErrorString(err)));
}

}  // namespace rscapret::cuda_runtime::detail
