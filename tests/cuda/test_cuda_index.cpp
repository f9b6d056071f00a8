// The CUDA gathers (kernels/cuda/index.cu) against kernels::ref: index_select, index_add with
// repeated indices (which must be summed, in index order: the kernel adds the same f32 values in
// the same order as the reference, so the bits must match) and the embedding lookup from f32,
// bf16 and f16 tables. Moves and exact conversions only: every comparison is exact. Outputs start
// poisoned, so an unwritten element fails.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/gather.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;

// [outer, dim, inner] and the number of indices.
struct Shape3 {
  int64_t outer, dim, inner, k;
};
// Small and odd; inner 1 (gather along the last axis); inner across two 256-column strips with
// more than one 256-index chunk of heavily repeated ids; a token-embedding-like backward.
constexpr Shape3 kShapes[] = {{2, 10, 7, 5}, {5, 20, 1, 33}, {3, 10, 300, 600}, {1, 1000, 64, 5000}};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Ids in [0, dim) with repeats; the first ids are pinned to the same row so every shape repeats.
std::vector<int64_t> ids_for(const Shape3& s, uint64_t seed) {
  std::vector<int64_t> ids = random_ids(s.k, s.dim, seed);
  for (int64_t i = 0; i < std::min<int64_t>(3, s.k); ++i) ids[size_t(i)] = s.dim - 1;
  return ids;
}

TEST(CudaIndex, IndexSelectMatchesTheReference) {
  RS_REQUIRE_CUDA();
  for (const Shape3& s : kShapes) {
    SCOPED_TRACE(::testing::Message() << "[" << s.outer << ", " << s.dim << ", " << s.inner << "] k " << s.k);
    const std::vector<float> x = random_normal(s.outer * s.dim * s.inner, 1 + uint64_t(s.k));
    const std::vector<int64_t> ids = ids_for(s, 2 + uint64_t(s.k));
    std::vector<float> ref(static_cast<size_t>(s.outer * s.k * s.inner));
    kernels::ref::gather_blocks(x.data(), s.outer, s.dim, s.inner, ids.data(), s.k, sizeof(float), ref.data());
    DeviceBuffer<float> X(x), Out(s.outer * s.k * s.inner);
    DeviceBuffer<int64_t> I(ids);
    kc::index_select(X.get(), I.get(), Out.get(), s.outer, s.dim, s.inner, s.k, 0);
    EXPECT_TRUE(same_bits(Out.download(), ref));
    EXPECT_TRUE(Out.guards_intact());
  }
}

TEST(CudaIndex, IndexAddSumsRepeatedIndicesInOrder) {
  RS_REQUIRE_CUDA();
  for (const Shape3& s : kShapes) {
    SCOPED_TRACE(::testing::Message() << "[" << s.outer << ", " << s.dim << ", " << s.inner << "] k " << s.k);
    const std::vector<float> base = random_normal(s.outer * s.dim * s.inner, 3 + uint64_t(s.k));
    const std::vector<float> src = random_normal(s.outer * s.k * s.inner, 4 + uint64_t(s.k));
    const std::vector<int64_t> ids = ids_for(s, 5 + uint64_t(s.k));
    std::vector<float> ref = base;
    kernels::ref::index_add<float>(ref.data(), s.outer, s.dim, s.inner, ids.data(), s.k, src.data());
    DeviceBuffer<float> Out(base), S(src);
    DeviceBuffer<int64_t> I(ids);
    kc::index_add(Out.get(), I.get(), S.get(), s.outer, s.dim, s.inner, s.k, 0);
    EXPECT_TRUE(same_bits(Out.download(), ref));
    EXPECT_TRUE(Out.guards_intact());
    EXPECT_TRUE(S.guards_intact());
  }
}

TEST(CudaIndex, IndexAddWithAllIndicesEqual) {
  RS_REQUIRE_CUDA();
  // One row receives all 1000 contributions (four index chunks); the others keep their values.
  const int64_t outer = 2, dim = 4, inner = 3, k = 1000;
  const std::vector<float> base = random_normal(outer * dim * inner, 91), src = random_normal(outer * k * inner, 92);
  const std::vector<int64_t> ids(static_cast<size_t>(k), 2);
  std::vector<float> ref = base;
  kernels::ref::index_add<float>(ref.data(), outer, dim, inner, ids.data(), k, src.data());
  DeviceBuffer<float> Out(base), S(src);
  DeviceBuffer<int64_t> I(ids);
  kc::index_add(Out.get(), I.get(), S.get(), outer, dim, inner, k, 0);
  EXPECT_TRUE(same_bits(Out.download(), ref));
  EXPECT_TRUE(Out.guards_intact());
}

TEST(CudaIndex, IndexAddOfNoIndicesChangesNothing) {
  RS_REQUIRE_CUDA();
  const std::vector<float> base = random_normal(24, 93);
  DeviceBuffer<float> Out(base), S(1);
  DeviceBuffer<int64_t> I(1);
  kc::index_add(Out.get(), I.get(), S.get(), 2, 4, 3, 0, 0);
  EXPECT_TRUE(same_bits(Out.download(), base));
}

// ---- embedding ----

TEST(CudaIndex, EmbeddingFromEveryTableDtype) {
  RS_REQUIRE_CUDA();
  const int64_t V = 100, C = 96, n = 50;
  const std::vector<float> w = random_normal(V * C, 101);
  std::vector<int64_t> ids = random_ids(n, V, 102);
  ids[1] = ids[0];  // a repeated token
  ids[2] = V - 1;
  std::vector<uint16_t> w16(w.size());
  for (size_t i = 0; i < w.size(); ++i) w16[i] = f32_to_f16(w[i]);
  const std::vector<uint16_t> wb = to_bf16(w);
  DeviceBuffer<float> W32(w);
  DeviceBuffer<uint16_t> W16(w16), WB(wb);
  DeviceBuffer<int64_t> I(ids);
  struct Table {
    DType dtype;
    const void* device;
    const void* host;
  };
  for (const Table& t : {Table{DType::f32, W32.get(), w.data()}, Table{DType::bf16, WB.get(), wb.data()},
                         Table{DType::f16, W16.get(), w16.data()}}) {
    SCOPED_TRACE(dtype_name(t.dtype));
    std::vector<float> ref(static_cast<size_t>(n * C));
    kernels::ref::gather_rows(t.host, t.dtype, C, ids.data(), n, ref.data(), DType::f32);
    DeviceBuffer<float> Out(n * C);
    kc::embedding(t.device, t.dtype, I.get(), Out.get(), n, C, 0);
    EXPECT_TRUE(same_bits(Out.download(), ref));  // 16-bit -> f32 is exact
    EXPECT_TRUE(Out.guards_intact());
  }
}

TEST(CudaIndex, EmbeddingRejectsIntegerTables) {
  RS_REQUIRE_CUDA();
  DeviceBuffer<int32_t> W(8);
  DeviceBuffer<int64_t> I(std::vector<int64_t>{0});
  DeviceBuffer<float> Out(4);
  EXPECT_THROW(kc::embedding(W.get(), DType::i32, I.get(), Out.get(), 1, 4, 0), DTypeError);
}

}  // namespace
}  // namespace rscapret::testing
