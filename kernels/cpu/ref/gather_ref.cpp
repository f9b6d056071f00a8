#include <cstring>

#include "kernels/cpu/gather.h"
#include "tensor/element.h"

namespace rscapret::kernels::ref {

void gather_rows(const void* table, DType table_t, int64_t row_len, const int64_t* ids, int64_t n, void* out,
                 DType out_t) {
  visit_dtype(table_t, [&](auto st) {
    using S = decltype(st);
    visit_dtype(out_t, [&](auto dt) {
      using D = decltype(dt);
      const S* src = static_cast<const S*>(table);
      D* dst = static_cast<D*>(out);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < row_len; ++c)
          store_from_double(dst + i * row_len + c, load_as_double(src + ids[i] * row_len + c));
    });
  });
}

void gather_blocks(const void* src, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k,
                   size_t esz, void* dst) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t c = 0; c < inner; ++c)
        std::memcpy(d + size_t((o * k + j) * inner + c) * esz, s + size_t((o * n + idx[j]) * inner + c) * esz, esz);
}

template <typename T>
void index_add(T* dst, int64_t outer, int64_t n, int64_t inner, const int64_t* idx, int64_t k, const T* src) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      for (int64_t c = 0; c < inner; ++c) dst[(o * n + idx[j]) * inner + c] += src[(o * k + j) * inner + c];
}
template void index_add<float>(float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, const float*);
template void index_add<double>(double*, int64_t, int64_t, int64_t, const int64_t*, int64_t, const double*);

}  // namespace rscapret::kernels::ref
