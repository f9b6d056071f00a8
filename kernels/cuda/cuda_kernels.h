// CUDA kernel entry points: host functions that launch device kernels. The op layer (autograd/ops)
// calls them the way it calls the CPU kernels: raw pointers and plain descriptions, never Tensors.
//
// Conventions for every function here:
// - pointers are device memory on cuda:`device`; the launch goes on that device's stream
//   (cuda_runtime::stream) and returns without synchronising; launch errors throw DeviceError;
// - compute is f32 (bf16 operands are read as f32, accumulation in f32);
// - "[rows, n]" means a contiguous row-major block; BroadcastLoop strides are in elements;
// - bf16 buffers are uint16_t bit patterns (the host never needs cuda_bf16.h).
// In a build without CUDA these are linked from cuda_kernels_stub.cpp and throw DeviceError.
#pragma once

#include <cstdint>

#include "kernels/cpu/adamw.h"
#include "kernels/kernel_types.h"
#include "tensor/dtype.h"

namespace rscapret::kernels::cuda {

// ---- copies and casts (copy.cu; built into the tensor library, whose copies and casts use it) ----
// dst (dst_dtype, addressed with loop operand 1's strides) = convert(src read at operand 0's
// strides). Every pair of f32, f64, bf16, f16, i32, i64 and boolean: bool -> 0/1, x -> bool is
// x != 0, float -> int truncates.
void strided_copy(const void* src, DType src_dtype, void* dst, DType dst_dtype, const BroadcastLoop& loop,
                  int device);
// dst[0..n) = value converted to dtype.
void fill(void* dst, DType dtype, int64_t n, double value, int device);

// ---- elementwise (elementwise.cu) ----
void unary(UnaryOp op, const float* x, float* y, int64_t n, float param, int device);
void binary(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLoop& loop, int device);
void compare(CompareOp op, const float* a, const float* b, bool* out, const BroadcastLoop& loop, int device);
void compare_i64(CompareOp op, const int64_t* a, const int64_t* b, bool* out, const BroadcastLoop& loop,
                 int device);
// out = cond ? a : b; loop operands 0 = cond, 1 = a, 2 = b.
void where(const bool* cond, const float* a, const float* b, float* out, const BroadcastLoop& loop, int device);

// ---- reductions over the last axis of [rows, n] (reduce.cu) ----
// ReduceOp::max over n = 0 gives -inf, logsumexp -inf, sum 0, mean NaN (as the CPU reference).
void reduce_rows(ReduceOp op, const float* x, float* out, int64_t rows, int64_t n, int device);
void argmax_rows(const float* x, int64_t* out, int64_t rows, int64_t n, int device);  // first maximum
void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log, int device);
// out[0] = sum of x[0..n), deterministic (fixed tree, same bits every run).
void sum_all(const float* x, float* out, int64_t n, int device);

// ---- gathers (index.cu); indices are checked in range by the caller ----
// x viewed [outer, dim, inner]; out [outer, n_index, inner] = x[:, index[i], :].
void index_select(const float* x, const int64_t* index, float* out, int64_t outer, int64_t dim, int64_t inner,
                  int64_t n_index, int device);
// out [outer, dim, inner] += src [outer, n_index, inner] at out[:, index[i], :], in index order
// (deterministic: each output element sums its contributions sequentially).
void index_add(float* out, const int64_t* index, const float* src, int64_t outer, int64_t dim, int64_t inner,
               int64_t n_index, int device);
// out [n, C] f32 = weight[ids[i], :], weight [V, C] of f32, bf16 or f16.
void embedding(const void* weight, DType weight_dtype, const int64_t* ids, float* out, int64_t n, int64_t C,
               int device);

// ---- normalisation (norm.cu) and position (rope.cu); w/b/mean/rstd may be null ----
void layer_norm(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t rows,
                int64_t cols, float eps, int device);
// Fused backward from the saved mean/rstd: dx [rows, cols]; dw, db [cols] written (not
// accumulated), each may be null (and w null means weight 1).
// LayerNorm at inference with y written as bf16 bits (rounded to nearest even: the bits of casting
// layer_norm's f32 y), for a consumer that rounds its input to bf16 anyway; no mean/rstd kept.
void layer_norm_bf16_out(const float* x, const float* w, const float* b, uint16_t* y, int64_t rows, int64_t cols,
                         float eps, int device);
void layer_norm_backward(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                         float* dx, float* dw, float* db, int64_t rows, int64_t cols, int device);
// w_bf16: the weight as bf16 bits, used when w is null (read in place, no cast launch).
void rms_norm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t cols, float eps,
              int device, const uint16_t* w_bf16 = nullptr);
void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                       int64_t rows, int64_t cols, int device);
// The forwards above read rows of at most 1024 columns (cols % 4 == 0, aligned) once, with 16-byte
// loads kept in registers (the CLIP LayerNorms); off: the three-pass scalar kernel every row width
// takes otherwise (results agree to rounding). Process-wide, on by default; for before/after timings.
void set_cuda_norm_single_read(bool on);
bool cuda_norm_single_read();
// x, y [B, T, H, D]; positions [B, T]. As kernels::ref::rope.
void rope(const float* x, float* y, const int64_t* positions, int64_t B, int64_t T, int64_t H, int64_t D,
          int64_t rotary_dim, double theta, RopeLayout layout, bool inverse, int device);
// Attention at decode in one launch: q_out = rope(q), k_dst = rope(k), v_dst = v, each element
// with the bits rope() and a copy give it. Every tensor is f32 with its last (D) dim contiguous and
// the others strided (elements): q [B, T, Hq, D], k and v [B, T, Hkv, D] (slices of one projection
// output), q_out likewise, k_dst and v_dst [B, Hkv, T, D] (rows of a KV cache buffer).
struct RopeAppendArgs {
  const float* q;
  int64_t q_sb, q_st, q_sh;
  const float* k;
  int64_t k_sb, k_st, k_sh;
  const float* v;
  int64_t v_sb, v_st, v_sh;
  float* q_out;
  int64_t qo_sb, qo_st, qo_sh;
  float* k_dst;
  int64_t kd_sb, kd_sh, kd_st;
  float* v_dst;
  int64_t vd_sb, vd_sh, vd_st;
  const int64_t* positions;  // [B, T]
  int64_t B, T, Hq, Hkv, D, rotary_dim;
  double theta;
  RopeLayout layout;
};
void rope_append(const RopeAppendArgs& a, int device);

// ---- cross-entropy fused with softmax, streaming the vocabulary (cross_entropy.cu) ----
// loss[r] = lse[r] - logits[r, t[r]], lse[r] = logsumexp(logits[r]); loss 0 where t[r] == ignore_index.
void cross_entropy_forward(const float* logits, const int64_t* targets, float* loss, float* lse, int64_t rows,
                           int64_t V, int64_t ignore_index, int device);
// dlogits[r] = (softmax(logits[r]) - onehot(t[r])) * grad_scale[0], zero on ignored rows.
// grad_scale is a device scalar (dL/dmean / valid count), so no host sync is needed.
void cross_entropy_backward(const float* logits, const int64_t* targets, const float* lse,
                            const float* grad_scale, float* dlogits, int64_t rows, int64_t V, int64_t ignore_index,
                            int device);

// ---- AdamW fused over many tensors in one launch (adamw.cu) ----
struct AdamWTensor {
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
};
// Same arithmetic as kernels::ref::adamw_update; `tensors` is a host array.
void adamw_update(const AdamWTensor* tensors, int count, const AdamWStep& step, int device);

// ---- attention (attention.cu, flash_attention.cu) ----
// f32, flash style (online softmax, no [Tq, Tk] matrix in memory). q [B,H,Tq,D], k [B,Hkv,Tk,D],
// v [B,Hkv,Tk,Dv] contiguous; key_keep [B,Tk] or null; out [B,H,Tq,Dv]; lse [B,H,Tq] (natural log
// of the softmax denominator after scaling; -inf for a query that sees no key, whose output is 0).
// Causal: query i sits at position Tk - Tq + i. kv_rows (0: Tk): the rows allocated per (batch,
// head) of k and v, whose first Tk are used: the first Tk positions of a KV cache of capacity
// kv_rows, read in place.
void attention_forward(const float* q, const float* k, const float* v, const bool* key_keep, float* out, float* lse,
                       int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale,
                       bool causal, int device, int64_t kv_rows = 0);
// dq like q; dk, dv like k, v (summed over the H / Hkv query heads of a group).
void attention_backward(const float* q, const float* k, const float* v, const bool* key_keep, const float* out,
                        const float* dout, const float* lse, float* dq, float* dk, float* dv, int64_t B, int64_t H,
                        int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale, bool causal,
                        int device);
// bf16 tensor-core flash attention (mma.sync), D = Dv in {64, 128}, no key mask; f32 lse [B,H,Tq].
void flash_attention_bf16_forward(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* out,
                                  float* lse, int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                                  float scale, bool causal, int device);
// The forward over strided operands (no layout copies at inference): q, out [B, H, Tq, D], k, v
// [B, Hkv, Tk, D] with D contiguous and element strides per batch, head and row (multiples of 8 for
// q, k, v, as cp.async moves 16 bytes; even for out); lse stays contiguous [B, H, Tq].
struct AttentionRowStrides {
  int64_t b, h, t;
};
void flash_attention_bf16_forward_strided(const uint16_t* q, AttentionRowStrides qs, const uint16_t* k,
                                          AttentionRowStrides ks, const uint16_t* v, AttentionRowStrides vs,
                                          uint16_t* out, AttentionRowStrides os, float* lse, int64_t B, int64_t H,
                                          int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, float scale, bool causal,
                                          int device);
void flash_attention_bf16_backward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* out,
                                   const uint16_t* dout, const float* lse, uint16_t* dq, uint16_t* dk, uint16_t* dv,
                                   int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, float scale,
                                   bool causal, int device);

// ---- GEMM (gemm_f32.cu, gemm_bf16.cu, gemm_cublas.cu) ----
enum class GemmActivation : uint8_t { none, gelu_erf, gelu_tanh, quick_gelu, silu };
enum class GemmBackend : uint8_t { ours, cublas };
// The process-wide choice for gemm_bf16: RSCAPRET_GEMM=cublas in the environment, or set here.
GemmBackend gemm_backend();
void set_gemm_backend(GemmBackend backend);

// C[b] [M, N] contiguous = A[b] @ B[b] in f32 (exact f32 FMA, no TF32), element strides, batch
// offsets b * sab, b * sbb, b * M * N.
void matmul_f32(const float* A, int64_t sam, int64_t sak, int64_t sab, const float* B, int64_t sbk, int64_t sbn,
                int64_t sbb, float* C, int64_t M, int64_t K, int64_t N, int64_t batch, int device);
// C [M, N] (leading dim ldc, f32 or bf16) = act(A [M, K] (lda) @ op(B) + bias [N]), bf16 operands,
// f32 accumulation. b_is_nk: B is [N, K] (ldb), the Linear weight layout; else [K, N] (ldb).
// bias may be null. Runs gemm_backend(): our tensor-core kernel, or cuBLASLt.
void gemm_bf16(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk, void* C,
               DType c_dtype, int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N, int64_t K,
               int device);
// The decode case with f32 activations: C = act(bf16(A) @ B^T + bias) for A f32 [M, K] (lda), B
// [N, K], each element of A rounded to bf16 as it is loaded (the bits of casting A first and
// calling gemm_bf16, one launch fewer). Handles M <= 8 with aligned rows on our kernels; returns
// false, doing nothing, otherwise (then cast A and call gemm_bf16). Invalid arguments (a leading
// dimension below K, sizes past 2^30) throw as gemm_bf16's do.
bool gemm_bf16_f32a(const float* A, int64_t lda, const uint16_t* B, int64_t ldb, void* C, DType c_dtype,
                    int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N, int64_t K, int device);
// The residual stream at decode: C [M, N] (f32, ldc) = residual [M, N] (f32, ldr) + (bf16(A) @ B^T +
// bias), with the bits of gemm_bf16_f32a's f32 output and a separate f32 add. Same conditions and
// refusals as gemm_bf16_f32a (and false without a residual).
bool gemm_bf16_f32a_residual(const float* A, int64_t lda, const uint16_t* B, int64_t ldb, float* C, int64_t ldc,
                             const float* bias, const float* residual, int64_t ldr, int64_t M, int64_t N, int64_t K,
                             int device);
// The same for bf16 A [M, K] (lda) of any row count: C = residual + (A @ B^T + bias), in the epilogue
// of the wgmma kernel (the shapes it takes automatically) or the decode kernel (M <= 8). Returns
// false, doing nothing, where neither applies or with cuBLASLt or a forced tile choice (then
// compute gemm_bf16 and add).
bool gemm_bf16_residual(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float* C, int64_t ldc,
                        const float* bias, const float* residual, int64_t ldr, int64_t M, int64_t N, int64_t K,
                        int device);
// An RMSNorm the next two entry points may apply to A's rows as they load them: A is then the
// norm's input x, and the product is taken with rms_norm(x, weight, eps) (rms_norm above, f32
// output) rounded to bf16, with the bits of that norm's output (each block recomputes the row's
// rstd in the norm kernel's order), one launch fewer. Weight [K]: f32 w, or bf16 w_bf16 when w is
// null, 16-byte aligned. Taken where rms_norm gives a row of K a whole block (K > 1024 columns, as
// LLaMA's); otherwise, or when cuda_norm_in_gemv() is off, the entry point returns false.
struct RmsNormOnLoad {
  const float* w = nullptr;
  const uint16_t* w_bf16 = nullptr;
  float eps = 0.f;
};
// The gated MLP at decode: C [M, N] (f32, ldc) = act(bf16(A) @ B_gate^T) * (bf16(A) @ B_up^T), B_gate and
// B_up [N, K] (ldb): one launch with the bits of the two products, the activation and the f32
// multiply done separately. Same conditions and refusals as gemm_bf16_f32a; with norm, A is the
// norm's input (RmsNormOnLoad).
bool gemm_bf16_f32a_glu(const float* A, int64_t lda, const uint16_t* B_gate, const uint16_t* B_up, int64_t ldb,
                        float* C, int64_t ldc, GemmActivation act, int64_t M, int64_t N, int64_t K, int device,
                        const RmsNormOnLoad* norm = nullptr);
// Several products of one f32 A at decode, in one launch: C [M, N[0] + .. + N[count-1]] (f32,
// contiguous) = bf16(A) @ [B[0]; ..; B[count-1]]^T, B[i] [N[i], K] (ldb), count <= 3 (q, k and v);
// each column has the bits gemm_bf16_f32a gives it. Same conditions and refusals as gemm_bf16_f32a;
// with norm, A is the norm's input (RmsNormOnLoad).
bool gemm_bf16_f32a_concat(const float* A, int64_t lda, const uint16_t* const* B, const int64_t* N, int count,
                           int64_t ldb, float* C, int64_t M, int64_t K, int device,
                           const RmsNormOnLoad* norm = nullptr);
// The RMSNorm of the entry points above taken in the GEMV (on by default; off: they return false
// when given a norm, and the caller runs rms_norm first). For before/after timings and as the
// fallback of a path written without a GPU to run it on (RSCAPRET_DISABLE=norm_in_gemv).
void set_cuda_norm_in_gemv(bool on);
bool cuda_norm_in_gemv();
// Whether the entry points above take an RmsNormOnLoad for rows of K (the switch is on and rms_norm
// gives such a row a whole block), so a caller can decline before allocating.
bool gemv_takes_rms_norm(int64_t K);
// rstd [rows] of x [rows, cols] (f32, contiguous) as the decode GEMVs' RmsNormOnLoad computes it
// (blocks of their 128 threads, norm_row_order.cuh): for the test that holds it to rms_norm's own
// rstd bit for bit on the device. Requires gemv_takes_rms_norm(cols).
void rms_norm_rstd_as_gemv(const float* x, float* rstd, int64_t rows, int64_t cols, float eps, int device);
// ---- programmatic dependent launch (dependent_launch.cu) ----
// The decode chain's kernels (norms, rope_append, the f32 attention forward, the decode GEMV) are
// launched as programmatic dependents of the kernel before them on cc >= 9.0 devices, so each is
// scheduled while its predecessor finishes and the GEMV's weight stream starts early (see
// dependent_launch.cuh). Process-wide, on by default; off gives plain launches (same bits), for
// before/after timings and as the fallback.
void set_cuda_dependent_launch(bool on);
bool cuda_dependent_launch();
// Whether launches on `device` are dependent ones now: the switch, cc >= 9.0, and no launch with
// the attribute refused there (false without CUDA).
bool cuda_dependent_launch_active(int device);

// The same through cuBLASLt always (the baseline the benchmarks compare with).
void gemm_bf16_cublas(const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk, void* C,
                      DType c_dtype, int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N,
                      int64_t K, int device);

}  // namespace rscapret::kernels::cuda
