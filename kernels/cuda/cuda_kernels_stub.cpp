// CPU-only build: the CUDA kernel entry points exist but report that CUDA is not built in
// (strided_copy and fill live with the tensor library's stub). No
// tensor can live on a CUDA device in such a build, so the op layer never reaches these; they keep
// the op code free of #ifdefs.
#include <atomic>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"

#include "tensor/error.h"
#include "tensor/feature_switch.h"

namespace rscapret::kernels::cuda {

namespace {
[[noreturn]] void no_cuda() { throw DeviceError("[cuda] this build of rscapret has no CUDA backend"); }
}  // namespace

void unary(UnaryOp, const float*, float*, int64_t, float, int) { no_cuda(); }
void binary(BinaryOp, const float*, const float*, float*, const BroadcastLoop&, int) { no_cuda(); }
void compare(CompareOp, const float*, const float*, bool*, const BroadcastLoop&, int) { no_cuda(); }
void compare_i64(CompareOp, const int64_t*, const int64_t*, bool*, const BroadcastLoop&, int) { no_cuda(); }
void where(const bool*, const float*, const float*, float*, const BroadcastLoop&, int) { no_cuda(); }
void reduce_rows(ReduceOp, const float*, float*, int64_t, int64_t, int) { no_cuda(); }
void argmax_rows(const float*, int64_t*, int64_t, int64_t, int) { no_cuda(); }
void softmax_rows(const float*, float*, int64_t, int64_t, bool, int) { no_cuda(); }
void sum_all(const float*, float*, int64_t, int) { no_cuda(); }
void index_select(const float*, const int64_t*, float*, int64_t, int64_t, int64_t, int64_t, int) { no_cuda(); }
void index_add(float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t, int) { no_cuda(); }
void embedding(const void*, DType, const int64_t*, float*, int64_t, int64_t, int) { no_cuda(); }
void layer_norm(const float*, const float*, const float*, float*, float*, float*, int64_t, int64_t, float, int) {
  no_cuda();
}
void layer_norm_bf16_out(const float*, const float*, const float*, uint16_t*, int64_t, int64_t, float, int) {
  no_cuda();
}
void layer_norm_backward(const float*, const float*, const float*, const float*, const float*, float*, float*,
                         float*, int64_t, int64_t, int) {
  no_cuda();
}
void rms_norm(const float*, const float*, float*, float*, int64_t, int64_t, float, int, const uint16_t*) { no_cuda(); }
void rms_norm_backward(const float*, const float*, const float*, const float*, float*, float*, int64_t, int64_t,
                       int) {
  no_cuda();
}
void rope(const float*, float*, const int64_t*, int64_t, int64_t, int64_t, int64_t, int64_t, double, RopeLayout, bool,
          int) {
  no_cuda();
}
void rope_append(const RopeAppendArgs&, int) { no_cuda(); }
void flash_attention_bf16_forward_strided(const uint16_t*, AttentionRowStrides, const uint16_t*, AttentionRowStrides,
                                          const uint16_t*, AttentionRowStrides, uint16_t*, AttentionRowStrides, float*,
                                          int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, bool, int) {
  no_cuda();
}
void cross_entropy_forward(const float*, const int64_t*, float*, float*, int64_t, int64_t, int64_t, int) {
  no_cuda();
}
void cross_entropy_backward(const float*, const int64_t*, const float*, const float*, float*, int64_t, int64_t,
                            int64_t, int) {
  no_cuda();
}
void adamw_update(const AdamWTensor*, int, const AdamWStep&, int) { no_cuda(); }
void attention_forward(const float*, const float*, const float*, const bool*, float*, float*, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, float, bool, int, int64_t) {
  no_cuda();
}
void attention_backward(const float*, const float*, const float*, const bool*, const float*, const float*,
                        const float*, float*, float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                        int64_t, float, bool, int) {
  no_cuda();
}
void flash_attention_bf16_forward(const uint16_t*, const uint16_t*, const uint16_t*, uint16_t*, float*, int64_t,
                                  int64_t, int64_t, int64_t, int64_t, int64_t, float, bool, int) {
  no_cuda();
}
void flash_attention_bf16_backward(const uint16_t*, const uint16_t*, const uint16_t*, const uint16_t*,
                                   const uint16_t*, const float*, uint16_t*, uint16_t*, uint16_t*, int64_t, int64_t,
                                   int64_t, int64_t, int64_t, int64_t, float, bool, int) {
  no_cuda();
}
void set_gemm_tiles(GemmTiles) {}
GemmTiles gemm_tiles() { return GemmTiles::automatic; }
int64_t gemm_bf16_wgmma_launches() { return 0; }
int64_t gemv_rms_norm_launches() { return 0; }
bool cuda_device_is_sm90(int) { return false; }
bool gemm_bf16_wgmma_supported(int) { return false; }
bool gemm_bf16_wgmma_kn_verified(int) { return false; }
namespace {
std::atomic<bool> g_wgmma_kn{feature_enabled_by_env("wgmma_kn")};  // kept for the same answers as a CUDA build's switch
}  // namespace
void set_gemm_wgmma_kn(bool on) { g_wgmma_kn.store(on); }
namespace {
std::atomic<bool> g_dependent_launch{feature_enabled_by_env("dependent_launch")};
}  // namespace
void set_cuda_dependent_launch(bool on) { g_dependent_launch.store(on); }
bool cuda_dependent_launch() { return g_dependent_launch.load(); }
bool cuda_dependent_launch_active(int) { return false; }
namespace {
std::atomic<bool> g_norm_single_read{feature_enabled_by_env("norm_single_read")};
}  // namespace
void set_cuda_norm_single_read(bool on) { g_norm_single_read.store(on); }
bool cuda_norm_single_read() { return g_norm_single_read.load(); }
namespace {
std::atomic<bool> g_norm_in_gemv{feature_enabled_by_env("norm_in_gemv")};
}  // namespace
void set_cuda_norm_in_gemv(bool on) { g_norm_in_gemv.store(on); }
bool cuda_norm_in_gemv() { return g_norm_in_gemv.load(); }
bool gemv_takes_rms_norm(int64_t) { return false; }
void rms_norm_rstd_as_gemv(const float*, float*, int64_t, int64_t, float, int) { no_cuda(); }
bool gemm_wgmma_kn() { return g_wgmma_kn.load(); }
GemmBackend gemm_backend() { return GemmBackend::ours; }
void set_gemm_backend(GemmBackend) {}
void matmul_f32(const float*, int64_t, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, float*, int64_t,
                int64_t, int64_t, int64_t, int) {
  no_cuda();
}
void gemm_bf16(const uint16_t*, int64_t, const uint16_t*, int64_t, bool, void*, DType, int64_t, const float*,
               GemmActivation, int64_t, int64_t, int64_t, int) {
  no_cuda();
}
bool gemm_bf16_f32a(const float*, int64_t, const uint16_t*, int64_t, void*, DType, int64_t, const float*,
                    GemmActivation, int64_t, int64_t, int64_t, int) {
  no_cuda();
  return false;
}
bool gemm_bf16_residual(const uint16_t*, int64_t, const uint16_t*, int64_t, float*, int64_t, const float*,
                        const float*, int64_t, int64_t, int64_t, int64_t, int) {
  no_cuda();
  return false;
}
bool gemm_bf16_f32a_residual(const float*, int64_t, const uint16_t*, int64_t, float*, int64_t, const float*,
                             const float*, int64_t, int64_t, int64_t, int64_t, int) {
  no_cuda();
  return false;
}
bool gemm_bf16_f32a_glu(const float*, int64_t, const uint16_t*, const uint16_t*, int64_t, float*, int64_t,
                        GemmActivation, int64_t, int64_t, int64_t, int, const RmsNormOnLoad*) {
  no_cuda();
  return false;
}
bool gemm_bf16_f32a_concat(const float*, int64_t, const uint16_t* const*, const int64_t*, int, int64_t, float*,
                           int64_t, int64_t, int, const RmsNormOnLoad*) {
  no_cuda();
  return false;
}
void gemm_bf16_cublas(const uint16_t*, int64_t, const uint16_t*, int64_t, bool, void*, DType, int64_t, const float*,
                      GemmActivation, int64_t, int64_t, int64_t, int) {
  no_cuda();
}

}  // namespace rscapret::kernels::cuda
