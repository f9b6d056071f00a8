// Process-wide switches of the GPU paths that were written without a GPU to run them: their
// initial value can be set off from the environment before a run. RSCAPRET_DISABLE holds a
// comma-separated list of names:
//   wgmma_kn          the wgmma GEMM with B [K, N] (kernels::cuda::set_gemm_wgmma_kn)
//   dependent_launch  programmatic dependent launches (kernels::cuda::set_cuda_dependent_launch)
//   norm_single_read  the single-read norm forward (kernels::cuda::set_cuda_norm_single_read)
//   fused_residual    residual adds in GEMM epilogues (ops::set_cuda_fused_residual)
//   fused_rope_append rope + KV-cache write in one kernel (ops::set_cuda_fused_rope_append)
//   bf16_handoff      bf16 outputs between CLIP ops (ops::set_cuda_bf16_handoff)
//   norm_in_gemv      RMSNorm applied by the decode GEMVs as they load (kernels::cuda::set_cuda_norm_in_gemv)
// Why: a kernel fault poisons the whole CUDA context, so one faulting path would fail every later
// test and benchmark of a run; bench/gpu/check.sh's probe stage runs each path's tests in a
// process of its own first and leaves out the ones that fail, so one device session still
// measures the rest.
#pragma once

namespace rscapret {

// False when `feature` is listed in RSCAPRET_DISABLE (read at each call; switches call it once).
bool feature_enabled_by_env(const char* feature);

}  // namespace rscapret
