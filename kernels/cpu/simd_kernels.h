// Fast f32 CPU kernels (Highway SIMD with run-time ISA dispatch, OpenBLAS for GEMM). Each has a
// scalar twin with the same signature in kernels/cpu/ref/ref_kernels.h, which is its test oracle.
#pragma once

#include <cstdint>

#include "kernels/kernel_types.h"

namespace rscapret::kernels::simd {

// elementwise.cpp
void unary(UnaryOp op, const float* x, float* y, int64_t n, float param);
void binary(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLoop& loop);
void compare(CompareOp op, const float* a, const float* b, bool* out, const BroadcastLoop& loop);
void where(const bool* cond, const float* a, const float* b, float* out, const BroadcastLoop& loop);
void accumulate(float* y, const float* x, int64_t n);  // y += x

// reduce.cpp (last axis of a contiguous [rows, n] block)
void reduce_rows(ReduceOp op, const float* x, float* out, int64_t rows, int64_t n);
void argmax_rows(const float* x, int64_t* out, int64_t rows, int64_t n);
void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log);
// out[o, i] = sum_j x[o, j, i] for a contiguous [outer, n, inner] block, j in order (a reduction
// over a middle axis without transposing it first; the reference transposes and sums rows).
void sum_middle(const float* x, float* out, int64_t outer, int64_t n, int64_t inner);

// norm.cpp
void layer_norm(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                int64_t rows, int64_t cols, float eps);
void rms_norm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t cols, float eps);

// rope.cpp
void rope(const float* x, float* y, const int64_t* positions, int64_t B, int64_t T, int64_t H, int64_t D,
          int64_t rotary_dim, double theta, RopeLayout layout, bool inverse);

// convert.cpp: contiguous dtype conversions (the 16-bit types as raw bits)
void bf16_to_f32(const uint16_t* x, float* y, int64_t n);
void f16_to_f32(const uint16_t* x, float* y, int64_t n);
void f32_to_bf16(const float* x, uint16_t* y, int64_t n);
void f32_to_f16(const float* x, uint16_t* y, int64_t n);

// loss.cpp, attention.cpp
void cross_entropy_rows(const float* logits, const int64_t* targets, float* loss, int64_t rows, int64_t V,
                        int64_t ignore_index);
void attention(const float* q, const float* k, const float* v, const bool* key_keep, float* out, int64_t B,
               int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, float scale,
               bool causal);

// dot.cpp: sum_i a[i] * b[i] (used by attention and gemv-like loops)
float dot(const float* a, const float* b, int64_t n);

}  // namespace rscapret::kernels::simd
