// CPU-only build: the CUDA kernel entry points exist but report that CUDA is not built in.
#include "kernels/cuda/cuda_kernels.h"

#include "tensor/error.h"

namespace rscapret::kernels::cuda {

void binary_f32(BinaryOp, const float*, const float*, float*, int64_t, int) {
  throw DeviceError("[cuda] this build of rscapret has no CUDA backend");
}

}  // namespace rscapret::kernels::cuda
