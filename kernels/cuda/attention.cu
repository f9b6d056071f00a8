// attention_forward / attention_backward: the f32 path of the attention op. Picks the kernels'
// head-dim capacity (64, 128 or 256: registers and shared memory scale with it) and launches the
// kernels of attention_f32_kernels.cuh on the device's stream.
#include <cuda_runtime.h>

#include <limits>

#include "kernels/cuda/attention_f32_kernels.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

using attn_f32::BwdParams;
using attn_f32::FwdParams;
using attn_f32::Launch;
using attn_f32::Shape;

Shape make_shape(const char* op, int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv,
                 float scale, bool causal) {
  const int64_t imax = std::numeric_limits<int>::max();
  if (B < 0 || H <= 0 || Hkv <= 0 || H % Hkv != 0 || Tq < 0 || Tk < 0 || D < 0 || Dv < 0)
    throw DeviceError(cat("[", op, "] invalid shape B=", B, " H=", H, " Hkv=", Hkv, " Tq=", Tq, " Tk=", Tk, " D=", D,
                          " Dv=", Dv));
  if (D > 256 || Dv > 256)
    throw DeviceError(cat("[", op, "] the CUDA kernels take head dims up to 256, got D=", D, " Dv=", Dv));
  if (B > 65535 || H > 65535 || Tq > imax || Tk > imax)
    throw DeviceError(cat("[", op, "] shape too large for the launch grid: B=", B, " H=", H, " Tq=", Tq, " Tk=", Tk));
  return Shape{int(B), int(H), int(Hkv), int(Tq), int(Tk), int(D), int(Dv), scale, causal};
}

// Head-dim capacity of the kernel instance: the smallest of 64, 128, 256 that holds D and Dv.
int dmax_for(const Shape& s) {
  const int d = s.D > s.Dv ? s.D : s.Dv;
  return d <= 64 ? 64 : d <= 128 ? 128 : 256;
}

// dependent: as a programmatic dependent of the previous kernel (the forward, which waits for it
// first: at decode it follows rope_append; dependent_launch.cuh).
template <typename Params>
void launch(void (*kernel)(Params), const Launch& L, const Params& p, cudaStream_t stream, const char* what,
            bool dependent = false) {
  if (L.grid.x == 0 || L.grid.y == 0 || L.grid.z == 0) return;
  // Above 48 KB a kernel needs the opt-in (the 256-dim instances use up to 138 KB).
  check_cuda(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  int(L.smem)),
             what);
  if (dependent) return attn::launch_kernel_dependent(kernel, L.grid, L.block, L.smem, stream, p, what);
  attn::launch_kernel(kernel, L.grid, L.block, L.smem, stream, p);
  check_launch(what);
}

template <int DMAX>
void forward_with(const FwdParams& p, cudaStream_t stream) {
  launch(attn_f32::attention_fwd_kernel<DMAX>, attn_f32::fwd_launch<DMAX>(p.s), p, stream, "attention_forward",
         /*dependent=*/true);
}

template <int DMAX>
void backward_with(const BwdParams& p, cudaStream_t stream) {
  launch(attn_f32::attention_bwd_dq_kernel<DMAX>, attn_f32::dq_launch<DMAX>(p.s), p, stream,
         "attention_backward (dq)");
  launch(attn_f32::attention_bwd_dkdv_kernel<DMAX>, attn_f32::dkdv_launch<DMAX>(p.s), p, stream,
         "attention_backward (dk, dv)");
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, const bool* key_keep, float* out, float* lse,
                       int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale,
                       bool causal, int device, int64_t kv_rows) {
  if (kv_rows == 0) kv_rows = Tk;
  if (kv_rows < Tk) throw ValueError(cat("[attention_forward] kv_rows ", kv_rows, " < Tk ", Tk));
  const FwdParams p{q, k, v, key_keep, out, lse,
                    make_shape("attention_forward", B, H, Hkv, Tq, Tk, D, Dv, scale, causal), kv_rows};
  if (int64_t(p.s.B) * p.s.H * p.s.Tq == 0) return;
  const cudaStream_t stream = stream_for(device);
  switch (dmax_for(p.s)) {
    case 64: forward_with<64>(p, stream); break;
    case 128: forward_with<128>(p, stream); break;
    default: forward_with<256>(p, stream); break;
  }
}

void attention_backward(const float* q, const float* k, const float* v, const bool* key_keep, const float* out,
                        const float* dout, const float* lse, float* dq, float* dk, float* dv, int64_t B, int64_t H,
                        int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale, bool causal,
                        int device) {
  const BwdParams p{q, k, v, key_keep, out, dout, lse, dq, dk, dv,
                    make_shape("attention_backward", B, H, Hkv, Tq, Tk, D, Dv, scale, causal)};
  if (p.s.B == 0) return;
  const cudaStream_t stream = stream_for(device);
  // Tq = 0 launches no dq blocks and leaves every dk, dv block with no query: zeros.
  switch (dmax_for(p.s)) {
    case 64: backward_with<64>(p, stream); break;
    case 128: backward_with<128>(p, stream); break;
    default: backward_with<256>(p, stream); break;
  }
}

}  // namespace rscapret::kernels::cuda
