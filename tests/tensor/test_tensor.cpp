// Tensor metadata, views without copies, copies, and typed errors.
#include <gtest/gtest.h>

#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace rscapret {
namespace {

Tensor iota(const Shape& shape) {
  Tensor t = Tensor::arange(shape_numel(shape), DType::f32);
  return t.view(shape);
}

TEST(Tensor, StorageIsAligned) {
  for (int64_t n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  }
}

TEST(Tensor, FactoriesAndItem) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.at({1, 2}), 0.0);
  Tensor f = Tensor::full({2}, 2.5, DType::bf16);
  EXPECT_EQ(f.at({1}), 2.5);
  EXPECT_EQ(Tensor::scalar(3.0).dim(), 0);
  EXPECT_EQ(Tensor::scalar(3.0).item(), 3.0);
  EXPECT_THROW(z.item(), ShapeError);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = iota({2, 3, 4});
  Tensor v = t.view({6, 4});
  EXPECT_EQ(v.storage(), t.storage());
  EXPECT_EQ(v.at({5, 3}), 23.0);
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), Shape({4, 2, 3}));
  EXPECT_EQ(p.at({3, 1, 2}), t.at({1, 2, 3}));
  EXPECT_FALSE(p.is_contiguous());
  Tensor tr = t.transpose(0, 2);
  EXPECT_EQ(tr.at({3, 2, 1}), t.at({1, 2, 3}));
  Tensor n = t.narrow(2, 1, 2);
  EXPECT_EQ(n.shape(), Shape({2, 3, 2}));
  EXPECT_EQ(n.at({1, 0, 0}), t.at({1, 0, 1}));
  Tensor s = t.slice(2, 0, 4, 3);  // indices 0, 3
  EXPECT_EQ(s.shape(), Shape({2, 3, 2}));
  EXPECT_EQ(s.at({0, 1, 1}), t.at({0, 1, 3}));
  Tensor sel = t.select(1, -1);
  EXPECT_EQ(sel.shape(), Shape({2, 4}));
  EXPECT_EQ(sel.at({1, 2}), t.at({1, 2, 2}));
  Tensor u = t.unsqueeze(1);
  EXPECT_EQ(u.shape(), Shape({2, 1, 3, 4}));
  EXPECT_EQ(u.squeeze(1).shape(), t.shape());
  EXPECT_EQ(t.unsqueeze(-1).shape(), Shape({2, 3, 4, 1}));
  for (const Tensor& x : {v, p, tr, n, s, sel, u}) EXPECT_EQ(x.storage(), t.storage());
}

TEST(Tensor, ExpandBroadcastsWithZeroStrides) {
  Tensor t = iota({3, 1});
  Tensor e = t.expand({2, 3, 5});
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(e.strides()[2], 0);
  EXPECT_EQ(e.at({1, 2, 4}), 2.0);
  EXPECT_THROW(t.expand({3, 2, 2}).numel(), ShapeError);
  EXPECT_THROW(t.expand({4, 5}), ShapeError);
}

TEST(Tensor, ViewOfNonContiguousNeedsReshape) {
  Tensor t = iota({4, 6}).transpose(0, 1);  // (6, 4), strides (1, 6)
  EXPECT_THROW(t.view({24}), ShapeError);
  Tensor r = t.reshape({24});
  EXPECT_TRUE(r.is_contiguous());
  EXPECT_EQ(r.at({1}), t.at({0, 1}));
  // Splitting a non-contiguous dim is still a view.
  Tensor split = iota({4, 6}).slice(1, 0, 6, 2).view({2, 2, 3});
  EXPECT_EQ(split.at({1, 1, 2}), iota({4, 6}).at({3, 4}));
  EXPECT_EQ(iota({2, 3}).view({-1}).shape(), Shape({6}));
  EXPECT_THROW(iota({2, 3}).view({-1, -1}), ShapeError);
  EXPECT_THROW(iota({2, 3}).view({4}), ShapeError);
}

TEST(Tensor, ContiguousCloneAndCast) {
  Tensor t = iota({3, 4}).transpose(0, 1);
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), t.storage());
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(c.at({i, j}), t.at({i, j}));
  Tensor cl = iota({5}).clone();
  EXPECT_EQ(cl.at({4}), 4.0);
  for (DType dt : kAllDTypes) {
    Tensor x = iota({2, 3}).to(dt);
    EXPECT_EQ(x.dtype(), dt);
    const double expect = dt == DType::boolean ? 1.0 : 5.0;
    EXPECT_EQ(x.at({1, 2}), expect) << dtype_name(dt);
  }
  EXPECT_THROW(iota({2}).data<double>(), DTypeError);
}

TEST(Tensor, TransposedCopiesAreExactForEveryLayout) {
  // Large enough for the tiled path (>= 16 x 16, sizes not multiples of the 32-tile), with a
  // permuted batch dim, in two dtypes.
  for (DType dt : {DType::f32, DType::bf16}) {
    Tensor t = iota({3, 67, 131}).to(dt);
    for (const Tensor& v : {t.transpose(1, 2), t.permute({2, 0, 1}).transpose(0, 2), t.transpose(0, 2).slice(0, 0, 131, 3)}) {
      Tensor c = v.contiguous();
      ASSERT_TRUE(c.is_contiguous());
      const auto got = c.to_vector<double>();
      int64_t i = 0;
      for (int64_t a = 0; a < v.size(0); ++a)
        for (int64_t b = 0; b < v.size(1); ++b)
          for (int64_t d = 0; d < v.size(2); ++d) ASSERT_EQ(got[size_t(i++)], v.at({a, b, d}));
    }
  }
}

TEST(Tensor, EmptyAndZeroSizedDims) {
  Tensor t = Tensor::empty({0, 5});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.contiguous().numel(), 0);
  EXPECT_EQ(t.view({5, 0}).shape(), Shape({5, 0}));
  EXPECT_EQ(t.transpose(0, 1).contiguous().shape(), Shape({5, 0}));
}

TEST(Tensor, TypedErrorsNameTheOpAndShapes) {
  Tensor t = iota({2, 3});
  try {
    t.narrow(1, 2, 5);
    FAIL() << "expected IndexError";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("[narrow]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("(2,3)"), std::string::npos);
  }
  EXPECT_THROW(t.select(0, 2), IndexError);
  EXPECT_THROW(t.permute({0, 0}), ShapeError);
  EXPECT_THROW(t.transpose(0, 5), IndexError);
  EXPECT_THROW(Tensor::empty({-1}), ShapeError);
  EXPECT_THROW(Tensor::empty({int64_t(1) << 40, int64_t(1) << 40}), Error);  // overflow or absurd size
  EXPECT_THROW(Tensor::empty({int64_t(1) << 45}), ValueError);               // 128 TiB
}

TEST(Tensor, DeviceParsingAndCudaAbsence) {
  EXPECT_TRUE(Device::parse("cpu").is_cpu());
  EXPECT_EQ(Device::parse("cuda:3").index, 3);
  EXPECT_EQ(Device::parse("cuda").str(), "cuda:0");
  EXPECT_THROW(Device::parse("gpu"), DeviceError);
  EXPECT_THROW(Device::parse("cuda:x"), DeviceError);
}

TEST(Tensor, CopyFromConvertsAndRespectsViews) {
  Tensor dst = Tensor::zeros({3, 4});
  Tensor src = iota({4, 3}).to(DType::f64).transpose(0, 1);
  dst.copy_from(src);
  EXPECT_EQ(dst.at({2, 3}), src.at({2, 3}));
  Tensor row = dst.select(0, 1);
  row.copy_from(Tensor::full({4}, 7.0));
  EXPECT_EQ(dst.at({1, 2}), 7.0);
  EXPECT_THROW(dst.copy_from(Tensor::zeros({4, 3})), ShapeError);
}

}  // namespace
}  // namespace rscapret

#include "tensor/host_allocator.h"

namespace rscapret {
namespace {

TEST(HostAllocator, ReusesLargeBlocksAndStaysAligned) {
  host_allocator::clear_cache();
  void* first = nullptr;
  {
    Tensor big = Tensor::empty({1 << 20});  // 4 MB: cached when freed
    first = big.raw_data();
  }
  EXPECT_GE(host_allocator::cached_bytes(), size_t(4) << 20);
  Tensor again = Tensor::empty({1 << 20});
  EXPECT_EQ(again.raw_data(), first);  // the same block comes back: no fresh page faults
  EXPECT_EQ(reinterpret_cast<uintptr_t>(again.raw_data()) % 64, 0u);
  Tensor other = Tensor::empty({(1 << 20) + 16});  // a different size never gets a too-small block
  EXPECT_NE(other.raw_data(), first);
  host_allocator::clear_cache();
  EXPECT_EQ(host_allocator::cached_bytes(), 0u);
}

TEST(HostAllocator, TracksLiveAndPeakBytes) {
  const size_t before = host_allocator::usage().live_bytes;
  host_allocator::reset_peak();
  {
    Tensor a = Tensor::empty({1 << 18});  // 1 MB
    Tensor b = Tensor::empty({1 << 18});
    EXPECT_EQ(host_allocator::usage().live_bytes, before + (size_t(2) << 20));
  }
  EXPECT_EQ(host_allocator::usage().live_bytes, before);
  EXPECT_EQ(host_allocator::usage().peak_bytes, before + (size_t(2) << 20));
}

}  // namespace
}  // namespace rscapret
