// CUDA kernel entry points (host functions launching device kernels). Pointers are device memory.
// In a CPU-only build these are linked from cuda_kernels_stub.cpp and throw DeviceError.
#pragma once

#include <cstdint>

#include "kernels/kernel_types.h"

namespace rscapret::kernels::cuda {

// out[i] = a[i] op b[i] for n contiguous f32 elements on device `device`.
void binary_f32(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int device);

}  // namespace rscapret::kernels::cuda
