// Data-movement kernels: row gathers (embedding, index_select) and block copies (concat), any dtype.
// The reference moves one element at a time; the fast version moves whole rows (memcpy, or SIMD
// conversion when a 16-bit table is read as f32).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace rscapret::kernels {

// out[i, :] = convert(table[ids[i], :]) for i < n; rows of row_len elements; ids already checked.
namespace ref {
void gather_rows(const void* table, DType table_t, int64_t row_len, const int64_t* ids, int64_t n, void* out,
                 DType out_t);
// src [outer, n, inner] -> dst [outer, k, inner] with dst[o, j, :] = src[o, idx[j], :] (same dtype).
void gather_blocks(const void* src, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k,
                   size_t elem_size, void* dst);
// dst [outer, n, inner] += scatter of src [outer, k, inner]: dst[o, idx[j], :] += src[o, j, :], j in order.
template <typename T>
void index_add(T* dst, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k, const T* src);
}  // namespace ref

namespace simd {
void index_add(float* dst, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k, const float* src);
void gather_rows(const void* table, DType table_t, int64_t row_len, const int64_t* ids, int64_t n, void* out,
                 DType out_t);
void gather_blocks(const void* src, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k,
                   size_t elem_size, void* dst);
}  // namespace simd

}  // namespace rscapret::kernels
