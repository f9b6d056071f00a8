#include "kernels/cpu/gather.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_kernels.h"

namespace rscapret::kernels::simd {

void gather_rows(const void* table, DType table_t, int64_t row_len, const int64_t* ids, int64_t n, void* out,
                 DType out_t) {
  const size_t in_row = size_t(row_len) * dtype_size(table_t);
  const size_t out_row = size_t(row_len) * dtype_size(out_t);
  const char* src = static_cast<const char*>(table);
  char* dst = static_cast<char*>(out);
  const bool widen = out_t == DType::f32 && (table_t == DType::bf16 || table_t == DType::f16);
  if (table_t != out_t && !widen) {  // unusual pairs (e.g. f32 table read as f64): element path
    ref::gather_rows(table, table_t, row_len, ids, n, out, out_t);
    return;
  }
  parallel_for(0, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const char* s = src + size_t(ids[i]) * in_row;
      char* d = dst + size_t(i) * out_row;
      if (!widen) std::memcpy(d, s, in_row);
      else if (table_t == DType::bf16) bf16_to_f32(reinterpret_cast<const uint16_t*>(s), reinterpret_cast<float*>(d), row_len);
      else f16_to_f32(reinterpret_cast<const uint16_t*>(s), reinterpret_cast<float*>(d), row_len);
    }
  });
}

void gather_blocks(const void* src, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k,
                   size_t esz, void* dst) {
  const size_t block = size_t(inner) * esz;
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  parallel_for(0, outer * k, std::max<int64_t>(1, 65536 / std::max<int64_t>(int64_t(block), 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = r / k, j = r % k;
      std::memcpy(d + size_t(r) * block, s + size_t(o * n + idx[j]) * block, block);
    }
  });
}

void index_add(float* dst, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k, const float* src) {
  // Threads split the outer dim only: within one outer slice, rows are added in index order, so
  // repeated indices accumulate in the same order as the reference.
  parallel_for(0, outer, 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t j = 0; j < k; ++j) accumulate(dst + (o * n + idx[j]) * inner, src + (o * k + j) * inner, inner);
  });
}

}  // namespace rscapret::kernels::simd
