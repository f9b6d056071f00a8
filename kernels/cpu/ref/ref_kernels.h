// Scalar reference kernels: the plainest correct loops, the oracle for every fast kernel.
// Templates over T = float or double (double is used by the float64 gradient checks).
// Layout conventions: "rows x cols" means a contiguous row-major [rows, cols] block.
#pragma once

#include <cstdint>

#include "kernels/kernel_types.h"

namespace rscapret::kernels::ref {

// ---- elementwise (elementwise_ref.cpp) ----
template <typename T> T unary_scalar(UnaryOp op, T x, T param);
template <typename T> T binary_scalar(BinaryOp op, T a, T b);
template <typename T> void unary(UnaryOp op, const T* x, T* y, int64_t n, T param);
template <typename T> void binary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastLoop& loop);
template <typename T> void compare(CompareOp op, const T* a, const T* b, bool* out, const BroadcastLoop& loop);
// out = cond ? a : b, operands 0 = cond, 1 = a, 2 = b.
template <typename T> void where(const bool* cond, const T* a, const T* b, T* out, const BroadcastLoop& loop);

// ---- reductions over the last axis of a [rows, n] block (reduce_ref.cpp) ----
template <typename T> void reduce_rows(ReduceOp op, const T* x, T* out, int64_t rows, int64_t n);
template <typename T> void argmax_rows(const T* x, int64_t* out, int64_t rows, int64_t n);
template <typename T> void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log);

// ---- normalisation (norm_ref.cpp); w/b may be null; mean/rstd outputs may be null ----
template <typename T>
void layer_norm(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t cols, T eps);
template <typename T>
void rms_norm(const T* x, const T* w, T* y, T* rstd, int64_t rows, int64_t cols, T eps);

// ---- rotary embedding (rope_ref.cpp): x, y [B, T, H, D]; positions [B, T] ----
// Rotates the first rotary_dim features of each head; `inverse` rotates by -angle (the backward).
template <typename T>
void rope(const T* x, T* y, const int64_t* positions, int64_t B, int64_t T_, int64_t H, int64_t D,
          int64_t rotary_dim, double theta, RopeLayout layout, bool inverse);

// ---- matmul (matmul_ref.cpp): C[M,N] = A[M,K] @ B[K,N] with element strides per operand ----
template <typename T>
void matmul(const T* A, int64_t sam, int64_t sak, const T* B, int64_t sbk, int64_t sbn, T* C,
            int64_t M, int64_t K, int64_t N);
// The same with every element of A and B first rounded to bf16 (nearest even), summed in double:
// the exact value gemm_bf16_dot approximates (its only error is f32 summation); also returns
// absC[m, n] = sum_k |bf16(a)| |bf16(b)|, the scale that error bounds are stated in.
void matmul_bf16_products(const float* A, int64_t sam, int64_t sak, const float* B, int64_t sbk, int64_t sbn,
                          double* C, double* absC, int64_t M, int64_t K, int64_t N);

// ---- q8_0 weights (quant_ref.cpp; the format is kernels/cpu/quant_q8.h) ----
// One row of K weights -> codes [K] and scales [ceil(K / 32)]: per block of 32 (the last may be
// shorter), d = max|w| / 127 and q = round(w / d) to nearest even; a block of zeros gets d = 0.
// Returns false (writing nothing meaningful) when the row holds a NaN or an infinity.
bool quantize_q8_row(const float* w, int64_t K, int8_t* codes, float* scales);
// C[M, N] = A[M, K] (row stride lda) @ dequant(W)^T, W given as codes [N, K] and scales
// [N, ceil(K / 32)]; each weight is T(q) * T(d) and the sum runs in double.
template <typename T>
void matmul_q8(const T* A, int64_t lda, const int8_t* codes, const float* scales, T* C, int64_t M, int64_t N,
               int64_t K);

// ---- losses and attention (loss_ref.cpp, attention_ref.cpp) ----
// loss[r] = logsumexp(logits[r]) - logits[r, target[r]]; 0 where target == ignore_index.
template <typename T>
void cross_entropy_rows(const T* logits, const int64_t* targets, T* loss, int64_t rows, int64_t V,
                        int64_t ignore_index);
// q [B,H,Tq,D], k [B,Hkv,Tk,D], v [B,Hkv,Tk,Dv] contiguous -> out [B,H,Tq,Dv].
// Query i sits at absolute position (Tk - Tq + i) for the causal mask (KV-cache decoding).
// key_keep [B,Tk] (may be null): false masks a key. A query with no visible key outputs zeros.
template <typename T>
void attention(const T* q, const T* k, const T* v, const bool* key_keep, T* out, int64_t B, int64_t H,
               int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, T scale, bool causal);

}  // namespace rscapret::kernels::ref
