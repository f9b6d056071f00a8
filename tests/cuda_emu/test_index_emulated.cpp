// The gathers along one axis (kernels/cuda/index.cu: index_select, index_add, embedding), their own
// source on the host emulator (simt.h), against the CPU reference kernels (kernels/cpu/ref/
// gather_ref.cpp), bit for bit: index_select as gather_blocks; index_add, whose ballot scan adds
// each output element's contributions one by one in index order, as ref::index_add's sequential
// loop (repeated indices with values of very different sizes, so that another order gives other
// bits; several chunks of indices and strips of columns); embedding of f32, bf16 and f16 tables
// (with subnormals, infinities and NaN) as gather_rows to f32. Grid-stride iterations by direct
// launches on small grids. Indices are the caller's to check (autograd/ops/index_ops.cpp): the
// launchers take them as valid, so out-of-range ones are not exercised here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <type_traits>
#include <vector>

#include "kernels/cpu/gather.h"
#include "kernels/cuda/index.cu"
#include "tensor/element.h"
#include "tests/cuda_emu/emu_test_util.h"

namespace {
using emu_test::bits;
using emu_test::normal;
using emu_test::Guarded;
using emu_test::Registered;
namespace kc = rscapret::kernels::cuda;
namespace ref = rscapret::kernels::ref;
using rscapret::DType;

void expect_same_bits(const float* got, const float* want, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(bits(got[i]), bits(want[i])) << "element " << i << ": " << got[i] << " vs " << want[i];
}

// ---- index_select ----

struct SelectCase {
  int64_t outer, dim, inner;
  std::vector<int64_t> index;
};

TEST(EmulatedIndex, IndexSelectMatchesGatherBlocks) {
  const SelectCase cases[] = {
      {3, 5, 7, {4, 0, 4, 2, 2, 1}},           // repeats, a row never selected
      {1, 4, 1, {3, 3, 0, 1, 2, 0, 0, 3, 1}},  // one column
      {2, 6, 50, {5, 0, 0, 3, 1, 4}},          // 600 outputs: three blocks
  };
  for (const SelectCase& c : cases) {
    const int64_t k = int64_t(c.index.size()), total = c.outer * k * c.inner;
    SCOPED_TRACE(::testing::Message() << c.outer << " x " << c.dim << " x " << c.inner << ", " << k << " indices");
    const std::vector<float> x = normal(size_t(c.outer * c.dim * c.inner), 1);
    Guarded<float> out(size_t(total), NAN);
    std::vector<float> want(static_cast<size_t>(total));
    ref::gather_blocks(x.data(), c.outer, c.dim, c.inner, c.index.data(), k, 4, want.data());
    {
      const Registered reg{{x.data(), x.size() * 4}, {c.index.data(), size_t(k) * 8}, out.whole()};
      kc::index_select(x.data(), c.index.data(), out.data(), c.outer, c.dim, c.inner, k, 0);
    }
    expect_same_bits(out.data(), want.data(), total);
    EXPECT_TRUE(out.guards_intact());
  }
}

// ---- index_add ----

// src [outer, k, inner] with magnitudes from 1e-3 to 1e7 by index (f32 sums of such terms depend
// on their order), out [outer, dim, inner] starting from N(0, 1).
struct AddCase {
  int64_t outer, dim, inner;
  std::vector<int64_t> index;
};
std::vector<float> add_sources(const AddCase& c) {
  const int64_t k = int64_t(c.index.size());
  std::vector<float> src = normal(size_t(c.outer * k * c.inner), 3);
  const float scale[] = {1e7f, 1.f, 1e-3f, 3e3f, -1e7f};
  for (size_t i = 0; i < src.size(); ++i) src[i] *= scale[(i / size_t(c.inner)) % 5];
  return src;
}
std::vector<int64_t> repeating(int64_t k, int64_t dim, int64_t step) {
  std::vector<int64_t> index(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) index[size_t(j)] = j * step % dim;
  return index;
}

// Runs index_add (or, with grid set, the kernel on that grid) and compares with the reference.
void run_index_add(const AddCase& c, dim3 grid = dim3(0)) {
  const int64_t k = int64_t(c.index.size()), n_out = c.outer * c.dim * c.inner;
  SCOPED_TRACE(::testing::Message() << c.outer << " x " << c.dim << " x " << c.inner << ", " << k << " indices");
  const std::vector<float> src_values = add_sources(c), out0 = normal(size_t(n_out), 4);
  Guarded<int64_t> index(size_t(k), 0);  // the guards are row 0: an index read past k adds to it
  std::copy(c.index.begin(), c.index.end(), index.data());
  Guarded<float> src(src_values.size(), 1e6f), out(size_t(n_out), NAN);
  std::copy(src_values.begin(), src_values.end(), src.data());
  std::copy(out0.begin(), out0.end(), out.data());
  std::vector<float> want = out0;
  ref::index_add<float>(want.data(), c.outer, c.dim, c.inner, c.index.data(), k, src_values.data());
  {
    const Registered reg{index.whole(), src.whole(), out.whole()};
    if (grid.x == 0)
      kc::index_add(out.data(), index.data(), src.data(), c.outer, c.dim, c.inner, k, 0);
    else
      kc::launch_plain(kc::index_add_kernel, grid, dim3(kc::kThreads), 0, nullptr, "index_add", out.data(),
                       index.data(), src.data(), c.outer, c.dim, c.inner, k);
  }
  expect_same_bits(out.data(), want.data(), n_out);
  EXPECT_TRUE(out.guards_intact());
}

// The test's own sensitivity: adding the same contributions in the reverse order gives other bits,
// so a scan that does not take the matches lowest index first fails it.
TEST(EmulatedIndex, IndexAddOrderChangesTheBits) {
  const AddCase c{2, 5, 7, repeating(40, 5, 3)};
  const std::vector<float> src = add_sources(c), out0 = normal(size_t(2 * 5 * 7), 4);
  std::vector<float> fwd = out0, rev = out0;
  const std::vector<int64_t> rindex(c.index.rbegin(), c.index.rend());
  std::vector<float> rsrc(src.size());  // src's index rows reversed with the indices
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t j = 0; j < 40; ++j)
      std::copy_n(src.begin() + (o * 40 + 39 - j) * 7, 7, rsrc.begin() + (o * 40 + j) * 7);
  ref::index_add<float>(fwd.data(), 2, 5, 7, c.index.data(), 40, src.data());
  ref::index_add<float>(rev.data(), 2, 5, 7, rindex.data(), 40, rsrc.data());
  int differ = 0;
  for (size_t i = 0; i < fwd.size(); ++i) differ += bits(fwd[i]) != bits(rev[i]);
  EXPECT_GT(differ, 10);
}

// Repeated indices and rows never indexed (unchanged); more indices than a block's 256 (several
// chunks of ballots, the last partly past k); more columns than 256 (a second, partial strip).
TEST(EmulatedIndex, IndexAddIsTheSequentialSumBitForBit) {
  run_index_add({2, 5, 7, {4, 1, 4, 4, 0, 1, 4}});  // row 2 and 3 never indexed
  run_index_add({2, 5, 7, repeating(40, 5, 3)});
  run_index_add({1, 3, 5, repeating(300, 3, 7)});  // two chunks of 256 indices
  run_index_add({1, 2, 300, {1, 0, 1, 1, 0, 1}});  // two strips of 256 columns
  {
    // Each warp alone up to the block's next barrier: a warp that rewrote the shared ballot masks
    // before the others had read them would show.
    const simt::Timing serial(/*lazy_copies=*/false, /*warp_serial=*/true);
    run_index_add({1, 3, 70, repeating(300, 3, 7)});  // three warps' columns, two chunks
  }
  const long long launches = simt::state().launches;
  kc::index_add(nullptr, nullptr, nullptr, 2, 3, 4, 0, 0);  // no index: nothing added, nothing launched
  EXPECT_EQ(simt::state().launches, launches);
}

// The kernel on a grid smaller than its rows and strips: each block walks several of both.
TEST(EmulatedIndex, IndexAddKernelStridesOverRowsAndStrips) {
  run_index_add({2, 3, 300, repeating(270, 3, 5)}, dim3(2, 1));
}

// ---- embedding ----

// A table [V, C] of the dtype's special values (signed zeros, subnormals, the largest finite,
// infinities, NaN) and random ones, looked up by ids with repeats.
TEST(EmulatedIndex, EmbeddingOfEachWeightDtype) {
  const int64_t V = 10, C = 40;
  const std::vector<int64_t> ids = {3, 0, 9, 3, 5, 5, 1, 9, 0};  // 360 outputs: two blocks
  const int64_t n = int64_t(ids.size());
  const double specials[] = {0.0, -0.0, 0x1p-24, -0x1p-20, 1e-40, 65504.0, 3e38, INFINITY, -INFINITY, NAN};
  for (const DType dt : {DType::f32, DType::bf16, DType::f16}) {
    SCOPED_TRACE(rscapret::dtype_name(dt));
    const size_t esz = rscapret::dtype_size(dt);
    std::vector<uint8_t> table(size_t(V * C) * esz);
    const std::vector<float> r = normal(size_t(V * C), 5);
    rscapret::visit_dtype(dt, [&](auto t) {
      using T = decltype(t);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, rscapret::Half> ||
                    std::is_same_v<T, rscapret::BFloat16>) {
        T* w = reinterpret_cast<T*>(table.data());
        for (int64_t i = 0; i < V * C; ++i)
          rscapret::store_from_double(w + i, i % 7 == 0 ? specials[size_t(i / 7) % std::size(specials)] : r[size_t(i)]);
      }
    });
    Guarded<float> out(size_t(n * C), 12345.f);
    std::vector<float> want(size_t(n * C));
    ref::gather_rows(table.data(), dt, C, ids.data(), n, want.data(), DType::f32);
    {
      const Registered reg{{table.data(), table.size()}, {ids.data(), ids.size() * 8}, out.whole()};
      kc::embedding(table.data(), dt, ids.data(), out.data(), n, C, 0);
    }
    for (int64_t i = 0; i < n * C; ++i) {
      if (std::isnan(want[size_t(i)]))  // a NaN stays a NaN (its payload is the conversion's)
        ASSERT_TRUE(std::isnan(out.data()[i])) << i;
      else
        ASSERT_EQ(bits(out.data()[i]), bits(want[size_t(i)])) << "element " << i;
    }
    EXPECT_TRUE(out.guards_intact());
  }
  const long long launches = simt::state().launches;
  EXPECT_THROW(kc::embedding(nullptr, DType::i32, ids.data(), nullptr, n, C, 0), rscapret::DTypeError);
  kc::embedding(nullptr, DType::f32, ids.data(), nullptr, 0, C, 0);
  EXPECT_EQ(simt::state().launches, launches);
}

// ---- grid-stride iterations of the two one-thread-per-output kernels ----

TEST(EmulatedIndex, SelectAndEmbeddingKernelsStrideOverTheGrid) {
  const int64_t outer = 3, dim = 7, inner = 30, C = 30;
  const std::vector<int64_t> index = {6, 0, 3, 3, 5, 1, 2, 6};
  const int64_t k = int64_t(index.size()), total = outer * k * inner;  // 720: six a thread
  const std::vector<float> x = normal(size_t(outer * dim * inner), 6);
  std::vector<uint16_t> w16(size_t(dim * C));
  for (size_t i = 0; i < w16.size(); ++i) w16[i] = uint16_t(0x0001 + i * 131 % 0x7bff);  // f16: subnormal to max
  Guarded<float> sel(size_t(total), NAN), emb(size_t(k * C), NAN);
  std::vector<float> want_sel(static_cast<size_t>(total)), want_emb(size_t(k * C));
  ref::gather_blocks(x.data(), outer, dim, inner, index.data(), k, 4, want_sel.data());
  ref::gather_rows(w16.data(), DType::f16, C, index.data(), k, want_emb.data(), DType::f32);
  {
    const Registered reg{{x.data(), x.size() * 4},
                         {index.data(), size_t(k) * 8},
                         {w16.data(), w16.size() * 2},
                         sel.whole(),
                         emb.whole()};
    kc::launch_plain(kc::index_select_kernel, dim3(2), dim3(64), 0, nullptr, "index_select", x.data(), index.data(),
                     sel.data(), dim, inner, k, total);
    kc::launch_plain(kc::embedding_kernel<DType::f16>, dim3(1), dim3(64), 0, nullptr, "embedding",
                     static_cast<const void*>(w16.data()), index.data(), emb.data(), C, k * C);
  }
  expect_same_bits(sel.data(), want_sel.data(), total);
  expect_same_bits(emb.data(), want_emb.data(), k * C);
  EXPECT_TRUE(sel.guards_intact());
  EXPECT_TRUE(emb.guards_intact());
}

}  // namespace
