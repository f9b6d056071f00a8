// The CUDA GEMMs against double-precision loops on the same inputs: matmul_f32 (strides, batches,
// broadcast), gemm_bf16 through every one of our kernels (forced tile configurations and the
// skinny kernel) and through cuBLASLt (backend switch and direct call), both B layouts, f32 and
// bf16 outputs, bias and every activation, padded and misaligned operands. Outputs are poisoned
// (NaN) first so that an unwritten element fails, operand padding holds NaN so that reading it
// fails, and the canary guards around every buffer must survive.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret {
namespace {

namespace kc = kernels::cuda;
using kc::GemmActivation;
using kc::GemmBackend;
using kc::GemmTiles;
using testing::DeviceBuffer;
using testing::from_bf16;
using testing::random_normal;
using testing::rel_err;
using testing::to_bf16;

// ---------------------------------------------------------------------------------------------
// matmul_f32
// ---------------------------------------------------------------------------------------------

// How an operand [rows, cols] is stored: row-major, row-major with padded rows, or transposed
// (column-major); `bcast` shares one matrix across the batch (batch stride 0).
enum class Layout { row, padded, transposed };

struct StridedMatrix {
  std::vector<float> data;
  int64_t s_row = 0, s_col = 0, s_batch = 0;
};

StridedMatrix make_operand(int64_t rows, int64_t cols, int64_t batch, Layout layout, bool bcast, uint64_t seed) {
  StridedMatrix m;
  const int64_t stored = bcast ? 1 : batch;
  int64_t per = 0;
  switch (layout) {
    case Layout::row: m.s_row = cols, m.s_col = 1, per = rows * cols; break;
    case Layout::padded: m.s_row = cols + 3, m.s_col = 1, per = rows * (cols + 3); break;
    case Layout::transposed: m.s_row = 1, m.s_col = rows, per = rows * cols; break;
  }
  m.s_batch = bcast ? 0 : per;
  m.data = random_normal(stored * per, seed);
  return m;
}

struct F32Case {
  int64_t M, K, N, batch;
  Layout a_layout = Layout::row, b_layout = Layout::row;
  bool a_bcast = false, b_bcast = false;
};

std::string describe(const F32Case& c) {
  return "M=" + std::to_string(c.M) + " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
         " batch=" + std::to_string(c.batch) + " a_layout=" + std::to_string(int(c.a_layout)) +
         " b_layout=" + std::to_string(int(c.b_layout)) + " a_bcast=" + std::to_string(c.a_bcast) +
         " b_bcast=" + std::to_string(c.b_bcast);
}

void check_matmul_f32(const F32Case& c, uint64_t seed) {
  SCOPED_TRACE(describe(c));
  const StridedMatrix a = make_operand(c.M, c.K, c.batch, c.a_layout, c.a_bcast, seed);
  const StridedMatrix b = make_operand(c.K, c.N, c.batch, c.b_layout, c.b_bcast, seed + 1);
  DeviceBuffer<float> dA(a.data), dB(b.data), dC(c.batch * c.M * c.N);
  kc::matmul_f32(dA.get(), a.s_row, a.s_col, a.s_batch, dB.get(), b.s_row, b.s_col, b.s_batch, dC.get(), c.M, c.K,
                 c.N, c.batch, 0);
  const std::vector<float> got = dC.download();

  std::vector<double> ref(size_t(c.batch * c.M * c.N));
  for (int64_t z = 0; z < c.batch; ++z)
    for (int64_t m = 0; m < c.M; ++m)
      for (int64_t n = 0; n < c.N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < c.K; ++k)
          acc += double(a.data[size_t(z * a.s_batch + m * a.s_row + k * a.s_col)]) *
                 double(b.data[size_t(z * b.s_batch + k * b.s_row + n * b.s_col)]);
        ref[size_t((z * c.M + m) * c.N + n)] = acc;
      }
  // f32 FMA chains over K terms: relative error ~ sqrt(K) * 2^-24, far below 1e-5; an indexing
  // or bounds mistake gives O(1). K = 0 has a zero reference: the output must be exactly 0.
  EXPECT_LT(rel_err(got, ref), 1e-5);
  EXPECT_TRUE(dA.guards_intact());
  EXPECT_TRUE(dB.guards_intact());
  EXPECT_TRUE(dC.guards_intact());
}

TEST(CudaGemmF32, OddShapesContiguous) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 100;
  for (const F32Case c : {F32Case{1, 1, 1, 1}, F32Case{7, 13, 5, 1}, F32Case{129, 67, 33, 1},
                          F32Case{200, 300, 100, 1}, F32Case{64, 16, 64, 1}, F32Case{65, 17, 65, 1},
                          F32Case{1, 512, 300, 1}, F32Case{300, 512, 1, 1}})
    check_matmul_f32(c, seed += 10);
}

TEST(CudaGemmF32, TransposedAndPaddedStrides) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 200;
  for (Layout la : {Layout::row, Layout::padded, Layout::transposed})
    for (Layout lb : {Layout::row, Layout::padded, Layout::transposed}) {
      F32Case c{70, 45, 90, 2};
      c.a_layout = la;
      c.b_layout = lb;
      check_matmul_f32(c, seed += 10);
    }
}

TEST(CudaGemmF32, BatchedAndBroadcast) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 300;
  for (bool a_bcast : {false, true})
    for (bool b_bcast : {false, true}) {
      F32Case c{33, 20, 70, 5};
      c.a_bcast = a_bcast;
      c.b_bcast = b_bcast;
      check_matmul_f32(c, seed += 10);
    }
  // A transposed and shared, B batched and padded.
  F32Case c{40, 24, 50, 3, Layout::transposed, Layout::padded, true, false};
  check_matmul_f32(c, seed += 10);
}

TEST(CudaGemmF32, BatchBeyondGridLimit) {
  RS_REQUIRE_CUDA();
  // gridDim.z is capped at 65535: the kernel loops over the rest of the batch.
  check_matmul_f32(F32Case{2, 3, 2, 70000}, 400);
  F32Case c{3, 2, 5, 66000};
  c.b_bcast = true;
  check_matmul_f32(c, 401);
}

TEST(CudaGemmF32, EmptyDimensions) {
  RS_REQUIRE_CUDA();
  check_matmul_f32(F32Case{7, 0, 5, 2}, 500);  // K = 0: zeros
  check_matmul_f32(F32Case{0, 4, 5, 2}, 501);  // nothing to write
  check_matmul_f32(F32Case{4, 4, 0, 2}, 502);
  check_matmul_f32(F32Case{4, 4, 5, 0}, 503);
}

// ---------------------------------------------------------------------------------------------
// gemm_bf16 (ours and cuBLASLt)
// ---------------------------------------------------------------------------------------------

// Every way of computing gemm_bf16: our automatic choice, each forced kernel, cuBLASLt through
// the backend switch and directly.
enum class Path { ours, ours_k64, ours_k32, ours_small, ours_skinny, ours_wgmma, cublas_backend, cublas_direct };
constexpr Path kAllPaths[] = {Path::ours,        Path::ours_k64,   Path::ours_k32,       Path::ours_small,
                              Path::ours_skinny, Path::ours_wgmma, Path::cublas_backend, Path::cublas_direct};

const char* path_name(Path p) {
  switch (p) {
    case Path::ours: return "ours (automatic)";
    case Path::ours_k64: return "ours (128x128x64 tiles)";
    case Path::ours_k32: return "ours (128x128x32 tiles)";
    case Path::ours_small: return "ours (small tiles)";
    case Path::ours_skinny: return "ours (skinny where it applies)";
    case Path::ours_wgmma: return "ours (TMA + wgmma where it applies)";
    case Path::cublas_backend: return "cuBLASLt via RSCAPRET_GEMM backend";
    case Path::cublas_direct: return "cuBLASLt direct";
  }
  return "?";
}

// Restores the process-wide backend and tile choice when a test leaves.
struct GemmSettingsGuard {
  GemmBackend backend = kc::gemm_backend();
  GemmTiles tiles = kc::gemm_tiles();
  ~GemmSettingsGuard() {
    kc::set_gemm_backend(backend);
    kc::set_gemm_tiles(tiles);
  }
};

void call_gemm(Path path, const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, bool b_is_nk, void* C,
               DType c_dtype, int64_t ldc, const float* bias, GemmActivation act, int64_t M, int64_t N, int64_t K) {
  GemmSettingsGuard guard;
  if (path == Path::cublas_direct)
    return kc::gemm_bf16_cublas(A, lda, B, ldb, b_is_nk, C, c_dtype, ldc, bias, act, M, N, K, 0);
  kc::set_gemm_backend(path == Path::cublas_backend ? GemmBackend::cublas : GemmBackend::ours);
  switch (path) {
    case Path::ours_k64: kc::set_gemm_tiles(GemmTiles::k64); break;
    case Path::ours_k32: kc::set_gemm_tiles(GemmTiles::k32); break;
    case Path::ours_small: kc::set_gemm_tiles(GemmTiles::small); break;
    case Path::ours_skinny: kc::set_gemm_tiles(GemmTiles::skinny); break;
    case Path::ours_wgmma: kc::set_gemm_tiles(GemmTiles::wgmma); break;
    default: kc::set_gemm_tiles(GemmTiles::automatic); break;
  }
  kc::gemm_bf16(A, lda, B, ldb, b_is_nk, C, c_dtype, ldc, bias, act, M, N, K, 0);
}

// The activations in double, as kernels::ref::unary defines them.
double activate(double x, GemmActivation act) {
  switch (act) {
    case GemmActivation::none: return x;
    case GemmActivation::gelu_erf: return 0.5 * x * (1.0 + std::erf(x * M_SQRT1_2));
    case GemmActivation::gelu_tanh:
      return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case GemmActivation::quick_gelu: return x / (1.0 + std::exp(-1.702 * x));
    case GemmActivation::silu: return x / (1.0 + std::exp(-x));
  }
  return x;
}

const char* act_name(GemmActivation act) {
  switch (act) {
    case GemmActivation::none: return "none";
    case GemmActivation::gelu_erf: return "gelu_erf";
    case GemmActivation::gelu_tanh: return "gelu_tanh";
    case GemmActivation::quick_gelu: return "quick_gelu";
    case GemmActivation::silu: return "silu";
  }
  return "?";
}

constexpr GemmActivation kAllActs[] = {GemmActivation::none, GemmActivation::gelu_erf, GemmActivation::gelu_tanh,
                                       GemmActivation::quick_gelu, GemmActivation::silu};

struct Bf16Case {
  int64_t M, N, K;
  bool b_is_nk = true;
  DType out = DType::f32;
  bool bias = false;
  GemmActivation act = GemmActivation::none;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;  // leading dimension = row length + pad
  int64_t off_a = 0, off_b = 0, off_c = 0;  // elements before the matrix (misaligns the pointer)
};

std::string describe(const Bf16Case& c, Path p) {
  return std::string(path_name(p)) + ": M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) +
         " K=" + std::to_string(c.K) + (c.b_is_nk ? " B[N,K]" : " B[K,N]") + " out=" +
         std::string(dtype_name(c.out)) + (c.bias ? " +bias" : "") + " act=" + act_name(c.act) +
         " pad=" + std::to_string(c.pad_a) + "," + std::to_string(c.pad_b) + "," + std::to_string(c.pad_c) +
         " off=" + std::to_string(c.off_a) + "," + std::to_string(c.off_b) + "," + std::to_string(c.off_c);
}

constexpr uint16_t kBf16NaN = 0x7fc0;

// Whether v still holds DeviceBuffer's poison (all bytes 0xFF).
template <typename T>
bool is_poison(const T& v) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  for (unsigned char x : bytes)
    if (x != 0xFF) return false;
  return true;
}

// A row-major bf16 matrix [rows, cols] with leading dimension ld after `off` elements; padding
// and the elements before hold NaN, so any read of them poisons the result.
std::vector<uint16_t> make_bf16(int64_t rows, int64_t cols, int64_t ld, int64_t off, uint64_t seed,
                                std::vector<float>* values) {
  const std::vector<float> v = random_normal(rows * cols, seed);
  std::vector<uint16_t> out(size_t(off + rows * ld), kBf16NaN);
  values->assign(size_t(rows * cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const uint16_t b = to_bf16(v[size_t(r * cols + c)]);
      out[size_t(off + r * ld + c)] = b;
      (*values)[size_t(r * cols + c)] = from_bf16(b);  // the exact operand value the GPU sees
    }
  return out;
}

template <typename OutT>
void check_gemm_bf16_typed(const Bf16Case& c, Path path, uint64_t seed) {
  const int64_t lda = c.K + c.pad_a, ldb = (c.b_is_nk ? c.K : c.N) + c.pad_b, ldc = c.N + c.pad_c;
  std::vector<float> a, b;
  const std::vector<uint16_t> hA = make_bf16(c.M, c.K, lda, c.off_a, seed, &a);
  const std::vector<uint16_t> hB =
      c.b_is_nk ? make_bf16(c.N, c.K, ldb, c.off_b, seed + 1, &b) : make_bf16(c.K, c.N, ldb, c.off_b, seed + 1, &b);
  const std::vector<float> bias = random_normal(c.N, seed + 2);
  DeviceBuffer<uint16_t> dA(hA), dB(hB);
  DeviceBuffer<float> dBias(bias);
  DeviceBuffer<OutT> dC(c.off_c + c.M * ldc);  // poisoned: 0xFF bytes, NaN in f32 and bf16

  const int64_t wgmma_before = kc::gemm_bf16_wgmma_launches();
  call_gemm(path, dA.get() + c.off_a, lda, dB.get() + c.off_b, ldb, c.b_is_nk, dC.get() + c.off_c, c.out, ldc,
            c.bias ? dBias.get() : nullptr, c.act, c.M, c.N, c.K);
  // A forced wgmma falls back to mma.sync silently where TMA cannot take the operands; where it
  // can, the wgmma kernel must be the one checked here, with B [N,K] and with B [K,N] (whose
  // variant must also have passed its self-check: CudaGemmBf16.WgmmaKnSelfCheckPassesOnHopper).
  const bool tma_ok = c.M > 0 && c.N > 0 && c.K > 0 && c.K % 8 == 0 && lda % 8 == 0 && ldb % 8 == 0 &&
                      c.off_a % 8 == 0 && c.off_b % 8 == 0;
  if (path == Path::ours_wgmma && tma_ok && kc::gemm_bf16_wgmma_supported(0)) {
    EXPECT_EQ(kc::gemm_bf16_wgmma_launches(), wgmma_before + 1) << "the forced wgmma kernel did not run";
  }
  const std::vector<OutT> raw = dC.download();

  std::vector<double> ref(size_t(c.M * c.N));
  std::vector<float> got(size_t(c.M * c.N));
  bool untouched = true;  // the elements outside [M, N] (padding, offset) keep their poison bits
  for (int64_t i = 0; i < c.off_c; ++i) untouched &= is_poison(raw[size_t(i)]);
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < c.N; ++n) {
      double acc = c.bias ? double(bias[size_t(n)]) : 0.0;
      for (int64_t k = 0; k < c.K; ++k)
        acc += double(a[size_t(m * c.K + k)]) *
               double(c.b_is_nk ? b[size_t(n * c.K + k)] : b[size_t(k * c.N + n)]);
      ref[size_t(m * c.N + n)] = activate(acc, c.act);
      const OutT v = raw[size_t(c.off_c + m * ldc + n)];
      if constexpr (sizeof(OutT) == 2)
        got[size_t(m * c.N + n)] = from_bf16(v);
      else
        got[size_t(m * c.N + n)] = v;
    }
    for (int64_t n = c.N; n < ldc; ++n) untouched &= is_poison(raw[size_t(c.off_c + m * ldc + n)]);
  }

  // f32 output: bf16 x bf16 products are exact in f32 and accumulate in f32, so the expected error
  // is ~sqrt(K) * 2^-24 (about 1e-6 here); 2e-3 leaves room for tensor-core accumulators that do
  // not round each addition like IEEE f32, while an indexing or bounds mistake gives O(1).
  // bf16 output adds one rounding to 8 significant bits (relative 2^-9 per element): 1e-2.
  const double tol = c.out == DType::bf16 ? 1e-2 : 2e-3;
  EXPECT_LT(rel_err(got, ref), tol);
  // The norm above dilutes one wrong element over the whole matrix; the largest element error
  // against the largest reference magnitude does not.
  double max_err = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_err = std::max(max_err, std::isfinite(got[i]) ? std::fabs(double(got[i]) - ref[i]) : INFINITY);
    max_ref = std::max(max_ref, std::fabs(ref[i]));
  }
  EXPECT_LE(max_err, 2 * tol * std::max(max_ref, 1e-30)) << "largest element error " << max_err << " of " << max_ref;
  EXPECT_TRUE(untouched) << "an element outside the output matrix was written";
  EXPECT_TRUE(dA.guards_intact());
  EXPECT_TRUE(dB.guards_intact());
  EXPECT_TRUE(dBias.guards_intact());
  EXPECT_TRUE(dC.guards_intact());
}

void check_gemm_bf16(const Bf16Case& c, Path path, uint64_t seed) {
  SCOPED_TRACE(describe(c, path));
  if (c.out == DType::bf16)
    check_gemm_bf16_typed<uint16_t>(c, path, seed);
  else
    check_gemm_bf16_typed<float>(c, path, seed);
}

// Shapes around every boundary: single elements, odd sizes (the bounds-checked slow path),
// K % 8 == 0 sizes (the cp.async path with partial tiles), decode rows (skinny), several K steps.
const std::vector<std::array<int64_t, 3>> kShapes = {  // M, N, K
    {1, 1, 1},    {7, 13, 5},    {129, 67, 33}, {200, 300, 100}, {1, 300, 256},  {3, 40, 64},
    {8, 130, 512}, {9, 130, 512}, {256, 512, 384}, {300, 520, 264}, {130, 264, 72}, {1, 4096 + 8, 96}};

TEST(CudaGemmBf16, ShapesLayoutsOutputsAllPaths) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 1000;
  for (const auto& s : kShapes)
    for (bool nk : {true, false})
      for (DType out : {DType::f32, DType::bf16})
        for (Path path : kAllPaths) {
          Bf16Case c{s[0], s[1], s[2]};
          c.b_is_nk = nk;
          c.out = out;
          check_gemm_bf16(c, path, seed += 7);
        }
}

TEST(CudaGemmBf16, BiasAndEveryActivation) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 2000;
  for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{129, 67, 33}, std::array<int64_t, 3>{256, 264, 128},
                                         std::array<int64_t, 3>{1, 300, 256}, std::array<int64_t, 3>{5, 70, 40}})
    for (GemmActivation act : kAllActs)
      for (bool bias : {false, true})
        for (bool nk : {true, false})
          for (DType out : {DType::f32, DType::bf16})
            for (Path path : kAllPaths) {
              if (!bias && act == GemmActivation::none) continue;  // the shapes test covers it
              Bf16Case c{s[0], s[1], s[2]};
              c.b_is_nk = nk;
              c.out = out;
              c.bias = bias;
              c.act = act;
              check_gemm_bf16(c, path, seed += 7);
            }
}

TEST(CudaGemmBf16, EmptyK) {
  RS_REQUIRE_CUDA();
  // K = 0: C = act(bias), or exactly 0 without bias.
  uint64_t seed = 3000;
  for (GemmActivation act : {GemmActivation::none, GemmActivation::gelu_erf, GemmActivation::silu})
    for (bool bias : {false, true})
      for (DType out : {DType::f32, DType::bf16})
        for (Path path : kAllPaths) {
          Bf16Case c{37, 45, 0};
          c.out = out;
          c.bias = bias;
          c.act = act;
          check_gemm_bf16(c, path, seed += 7);
        }
}

TEST(CudaGemmBf16, EmptyMOrNWritesNothing) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 3500;
  for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{0, 16, 32}, std::array<int64_t, 3>{16, 0, 32}})
    for (Path path : kAllPaths) {
      Bf16Case c{s[0], s[1], s[2]};
      c.pad_c = 4;  // with M = 0 or N = 0, the poisoned buffer must stay untouched
      c.bias = true;
      check_gemm_bf16(c, path, seed += 7);
    }
}

TEST(CudaGemmBf16, PaddedLeadingDimensionsOurs) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 4000;
  // pad 8: still 16-byte aligned rows (cp.async and skinny paths over strided rows);
  // pad 3 / pad_c 1: odd leading dimensions (bounds-checked loads, single-element stores).
  for (const std::array<int64_t, 3> pads : {std::array<int64_t, 3>{8, 8, 8}, std::array<int64_t, 3>{3, 5, 1},
                                            std::array<int64_t, 3>{0, 0, 1}})
    for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{2, 96, 64}, std::array<int64_t, 3>{140, 200, 88}})
      for (bool nk : {true, false})
        for (DType out : {DType::f32, DType::bf16})
          for (Path path : {Path::ours, Path::ours_k64, Path::ours_k32, Path::ours_small, Path::ours_skinny,
                            Path::ours_wgmma}) {
            Bf16Case c{s[0], s[1], s[2]};
            c.b_is_nk = nk;
            c.out = out;
            c.bias = true;
            c.act = GemmActivation::gelu_tanh;
            c.pad_a = pads[0], c.pad_b = pads[1], c.pad_c = pads[2];
            check_gemm_bf16(c, path, seed += 7);
          }
}

// The TMA + wgmma kernel over strided operands: leading dims padded by 8 (TMA-legal) take it,
// padded by 3 or offset by one element (not 16-byte aligned) fall back to mma.sync; partial tiles
// in M, N and K (16448 = 128 x 128.5 rows, as the ViT-L batch of 64).
TEST(CudaGemmBf16, WgmmaPlainProductsAndFallbacks) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 7000;
  for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{16448 / 16, 264, 136}, std::array<int64_t, 3>{200, 1000, 40}})
    for (const std::array<int64_t, 2> pad_off : {std::array<int64_t, 2>{8, 0}, std::array<int64_t, 2>{3, 0},
                                                 std::array<int64_t, 2>{0, 1}})
      for (Path path : {Path::ours, Path::ours_wgmma}) {
        Bf16Case c{s[0], s[1], s[2]};
        c.pad_a = c.pad_b = pad_off[0];
        c.off_a = c.off_b = pad_off[1];
        c.pad_c = 5;
        check_gemm_bf16(c, path, seed += 7);
      }
}

// The 128x256-tile wgmma kernel with its epilogue: since the launcher picks the tile width by wave
// occupancy, the shapes above take 128x128 tiles on a 132-SM card; 1100 x 2048 keeps 128x256 ones
// (72 tiles, one wave) with a partial last row tile, bias, an activation, f32 and bf16 output
// (the 16-byte bf16 stores over 32 column blocks). Added after the tenth session's last GPU run.
TEST(CudaGemmBf16, WgmmaWideTilesWithEpilogue) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 9100;
  for (int64_t K : {int64_t(64), int64_t(200)})
    for (DType out : {DType::f32, DType::bf16})
      for (Path path : {Path::ours, Path::ours_wgmma}) {
        Bf16Case c{1100, 2048, K};
        c.out = out;
        c.bias = true;
        c.act = GemmActivation::gelu_tanh;
        check_gemm_bf16(c, path, seed += 7);
      }
}

// The wgmma kernel's edges: odd N (single-element stores in the epilogue), K = 1032 (17 k-tiles:
// the 4-stage ring wraps to its starting phase, and a partial last k-tile) and K = 2048 (32
// k-tiles), a C pointer one element in; bias and an activation, f32 and bf16 output.
TEST(CudaGemmBf16, WgmmaOddNLongKMisalignedC) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 7500;
  for (const std::array<int64_t, 4> s : {std::array<int64_t, 4>{300, 263, 1032, 0}, std::array<int64_t, 4>{130, 136, 2048, 0},
                                         std::array<int64_t, 4>{67, 264, 64, 1}, std::array<int64_t, 4>{9, 257, 520, 1}})
    for (DType out : {DType::f32, DType::bf16})
      for (Path path : {Path::ours, Path::ours_wgmma}) {
        Bf16Case c{s[0], s[1], s[2]};
        c.out = out;
        c.bias = true;
        c.act = GemmActivation::gelu_tanh;
        c.off_c = s[3];
        check_gemm_bf16(c, path, seed += 7);
      }
}

// The wgmma kernel with B [K,N] (MN-major operand; the backward's dY W): the tail and pipeline
// cases of the two tests above with B [K,N] rows padded to a multiple of 8 (TMA's row stride), so
// every one takes the kernel when forced: 128x256 tiles (1100 x 2048), N tails inside a 64-column
// box and whole boxes past N (263, 257), 17 and 32 k-tiles, a misaligned C. Added in the twelfth
// session without a GPU.
TEST(CudaGemmBf16, WgmmaKnBTilesTailsAndEpilogue) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 9300;
  for (const std::array<int64_t, 4> s : {std::array<int64_t, 4>{1100, 2048, 200, 0}, std::array<int64_t, 4>{300, 263, 1032, 0},
                                         std::array<int64_t, 4>{130, 136, 2048, 0}, std::array<int64_t, 4>{67, 264, 64, 1},
                                         std::array<int64_t, 4>{9, 257, 520, 1}, std::array<int64_t, 4>{16448 / 16, 512, 136, 0}})
    for (DType out : {DType::f32, DType::bf16})
      for (Path path : {Path::ours, Path::ours_wgmma}) {
        Bf16Case c{s[0], s[1], s[2]};
        c.b_is_nk = false;
        c.pad_b = (8 - c.N % 8) % 8;
        c.out = out;
        c.bias = true;
        c.act = GemmActivation::gelu_tanh;
        c.off_c = s[3];
        check_gemm_bf16(c, path, seed += 7);
      }
}

// On Hopper the B [K,N] variant must pass its self-check (else every B [K,N] product quietly stays
// on mma.sync, and the forced cases above fail with "did not run").
TEST(CudaGemmBf16, WgmmaKnSelfCheckPassesOnHopper) {
  RS_REQUIRE_CUDA();
  if (!kc::gemm_bf16_wgmma_supported(0)) GTEST_SKIP() << "device 0 has no wgmma kernel (not a cc 9.0 GPU, or no sm_90a)";
  EXPECT_TRUE(kc::gemm_bf16_wgmma_kn_verified(0)) << "the B [K,N] wgmma variant failed its self-check";
}

// The automatic choice sends a B [K,N] product of the frozen step's kind (N % 256 == 0, K % 64 == 0)
// to the wgmma kernel, and the switch sends it back to mma.sync; both give the reference.
TEST(CudaGemmBf16, WgmmaKnSwitchChoosesTheKernel) {
  RS_REQUIRE_CUDA();
  if (!kc::gemm_bf16_wgmma_supported(0)) GTEST_SKIP() << "device 0 has no wgmma kernel (not a cc 9.0 GPU, or no sm_90a)";
  uint64_t seed = 9400;
  const bool was = kc::gemm_wgmma_kn();  // RSCAPRET_DISABLE may have set it off for the run
  for (bool on : {true, false}) {
    SCOPED_TRACE(on ? "switch on" : "switch off");
    kc::set_gemm_wgmma_kn(on);
    Bf16Case c{200, 512, 320};
    c.b_is_nk = false;
    const int64_t before = kc::gemm_bf16_wgmma_launches();
    check_gemm_bf16(c, Path::ours, seed += 7);
    EXPECT_EQ(kc::gemm_bf16_wgmma_launches(), before + (on ? 1 : 0));
  }
  kc::set_gemm_wgmma_kn(was);
}

// On a Hopper GPU this binary must carry the wgmma kernel (sm_90a): otherwise every "wgmma" case
// would quietly test the mma.sync fallback.
TEST(CudaGemmBf16, WgmmaAvailableOnHopper) {
  RS_REQUIRE_CUDA();
  if (!kc::cuda_device_is_sm90(0)) GTEST_SKIP() << "device 0 is not a cc 9.0 GPU: no wgmma";
  EXPECT_TRUE(kc::gemm_bf16_wgmma_supported(0)) << "cc 9.0 device but no sm_90a wgmma kernel in this build";
}

TEST(CudaGemmBf16, MisalignedPointersOurs) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 5000;
  // One element in: 2-byte aligned operands (slow path), 4-byte (bf16) / 4-byte (f32) outputs.
  for (const std::array<int64_t, 3> offs : {std::array<int64_t, 3>{1, 0, 0}, std::array<int64_t, 3>{0, 1, 0},
                                            std::array<int64_t, 3>{0, 0, 1}, std::array<int64_t, 3>{8, 8, 2}})
    for (bool nk : {true, false})
      for (DType out : {DType::f32, DType::bf16})
        for (Path path : {Path::ours, Path::ours_k64, Path::ours_small, Path::ours_skinny}) {
          Bf16Case c{4, 72, 64};
          c.b_is_nk = nk;
          c.out = out;
          c.bias = true;
          c.off_a = offs[0], c.off_b = offs[1], c.off_c = offs[2];
          check_gemm_bf16(c, path, seed += 7);
          c.M = 67;
          check_gemm_bf16(c, path, seed += 7);
        }
}

// Kept apart from the tests of our kernels: cuBLASLt must find an algorithm for unaligned
// pointers and odd leading dimensions once told their real alignment.
TEST(CudaGemmBf16, PaddedAndMisalignedCublas) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 6000;
  for (const std::array<int64_t, 6> po : {std::array<int64_t, 6>{8, 8, 8, 0, 0, 0}, std::array<int64_t, 6>{3, 5, 1, 0, 0, 0},
                                          std::array<int64_t, 6>{0, 0, 0, 1, 1, 1}})
    for (bool nk : {true, false})
      for (DType out : {DType::f32, DType::bf16})
        for (GemmActivation act : {GemmActivation::none, GemmActivation::gelu_tanh, GemmActivation::silu}) {
          Bf16Case c{67, 72, 64};
          c.b_is_nk = nk;
          c.out = out;
          c.bias = true;
          c.act = act;
          c.pad_a = po[0], c.pad_b = po[1], c.pad_c = po[2];
          c.off_a = po[3], c.off_b = po[4], c.off_c = po[5];
          check_gemm_bf16(c, Path::cublas_direct, seed += 7);
        }
}

TEST(CudaGemmBf16, ManyTilesAndLongK) {
  RS_REQUIRE_CUDA();
  uint64_t seed = 7000;
  // 9 x 17 tiles of 128x128: a partial group in the grouped block order; K = 2048: 32 to 64
  // pipeline steps.
  for (Path path : {Path::ours, Path::ours_k64, Path::ours_k32, Path::ours_small, Path::cublas_direct}) {
    Bf16Case c{1100, 2100, 72};
    c.bias = true;
    check_gemm_bf16(c, path, seed += 7);
    Bf16Case d{96, 136, 2048};
    d.b_is_nk = false;
    d.out = DType::bf16;
    check_gemm_bf16(d, path, seed += 7);
  }
}

// gemm_bf16_f32a reads f32 activations and rounds them to bf16 as it loads them: every output
// must have the bits of casting A first and calling gemm_bf16 (the skinny kernel for M <= 8), for
// every row count it takes, K tails of one chunk, N not a multiple of the block's columns, bias
// and activation; a NaN stays in its row; what it refuses (M > 8, a misaligned A, a forced tile
// choice) it leaves untouched, so the caller's general path runs.
TEST(CudaGemmBf16, F32ActivationsGiveTheBitsOfCastingFirst) {
  RS_REQUIRE_CUDA();
  GemmSettingsGuard guard;
  kc::set_gemm_backend(GemmBackend::ours);
  kc::set_gemm_tiles(GemmTiles::automatic);
  uint64_t seed = 900;
  for (int64_t M : {1, 2, 3, 5, 8})
    for (const auto& [K, N] : std::vector<std::pair<int64_t, int64_t>>{{8, 1}, {64, 7}, {136, 33}, {4104, 257}})
      for (GemmActivation act : {GemmActivation::none, GemmActivation::silu})
        for (bool with_bias : {false, true}) {
          SCOPED_TRACE("M " + std::to_string(M) + " K " + std::to_string(K) + " N " + std::to_string(N) + " " +
                       act_name(act) + (with_bias ? " +bias" : ""));
          std::vector<float> a = random_normal(M * K, ++seed), bias = random_normal(N, ++seed);
          if (M >= 3) a[size_t(K + 5)] = NAN;  // row 1 only
          const std::vector<uint16_t> w = to_bf16(random_normal(N * K, ++seed, 0.1f));
          DeviceBuffer<float> dA(a), dBias(bias), c_f32a(M * N), c_cast(M * N);
          DeviceBuffer<uint16_t> dA16(to_bf16(a)), dW(w);
          const float* b = with_bias ? dBias.get() : nullptr;
          ASSERT_TRUE(kc::gemm_bf16_f32a(dA.get(), K, dW.get(), K, c_f32a.get(), DType::f32, N, b, act, M, N, K, 0));
          kc::gemm_bf16(dA16.get(), K, dW.get(), K, true, c_cast.get(), DType::f32, N, b, act, M, N, K, 0);
          const std::vector<float> got = c_f32a.download(), want = c_cast.download();
          EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "bits differ";
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n)
              EXPECT_EQ(std::isnan(got[size_t(m * N + n)]), M >= 3 && m == 1) << "row " << m << " col " << n;
          EXPECT_TRUE(c_f32a.guards_intact());
        }
  // Refusals leave C as it was (poisoned) and return false.
  DeviceBuffer<float> a(9 * 64 + 1), c(9 * 64);
  DeviceBuffer<uint16_t> w(64 * 64);
  EXPECT_FALSE(kc::gemm_bf16_f32a(a.get(), 64, w.get(), 64, c.get(), DType::f32, 64, nullptr, GemmActivation::none,
                                  9, 64, 64, 0))
      << "more than 8 rows";
  EXPECT_FALSE(kc::gemm_bf16_f32a(a.get() + 1, 64, w.get(), 64, c.get(), DType::f32, 64, nullptr,
                                  GemmActivation::none, 1, 64, 64, 0))
      << "A not 16-byte aligned";
  kc::set_gemm_tiles(GemmTiles::k32);
  EXPECT_FALSE(kc::gemm_bf16_f32a(a.get(), 64, w.get(), 64, c.get(), DType::f32, 64, nullptr, GemmActivation::none,
                                  1, 64, 64, 0))
      << "a forced tile choice";
  const std::vector<float> untouched = c.download();
  for (float v : untouched) ASSERT_TRUE(std::isnan(v)) << "a refused call wrote C";
  EXPECT_TRUE(c.guards_intact());
}

// gemm_bf16_f32a_glu: act(A Wg^T) * (A Wu^T) in one kernel, with the bits of the two products
// (gemm_bf16_f32a, the activation in the gate's epilogue) and an f32 multiply done separately.
TEST(CudaGemmBf16, GatedProductHasTheBitsOfTheComposedOps) {
  RS_REQUIRE_CUDA();
  GemmSettingsGuard guard;
  kc::set_gemm_backend(GemmBackend::ours);
  kc::set_gemm_tiles(GemmTiles::automatic);
  uint64_t seed = 1900;
  for (int64_t M : {1, 3, 8})
    for (const auto& [K, N] : std::vector<std::pair<int64_t, int64_t>>{{8, 1}, {136, 33}, {4104, 257}})
      for (GemmActivation act : {GemmActivation::silu, GemmActivation::gelu_tanh}) {
        SCOPED_TRACE("M " + std::to_string(M) + " K " + std::to_string(K) + " N " + std::to_string(N) + " " +
                     act_name(act));
        const std::vector<float> a = random_normal(M * K, ++seed);
        DeviceBuffer<float> dA(a), glu(M * N), gate(M * N), up(M * N);
        DeviceBuffer<uint16_t> wg(to_bf16(random_normal(N * K, ++seed, 0.1f))),
            wu(to_bf16(random_normal(N * K, ++seed, 0.1f)));
        ASSERT_TRUE(kc::gemm_bf16_f32a_glu(dA.get(), K, wg.get(), wu.get(), K, glu.get(), N, act, M, N, K, 0));
        ASSERT_TRUE(kc::gemm_bf16_f32a(dA.get(), K, wg.get(), K, gate.get(), DType::f32, N, nullptr, act, M, N, K, 0));
        ASSERT_TRUE(kc::gemm_bf16_f32a(dA.get(), K, wu.get(), K, up.get(), DType::f32, N, nullptr,
                                       GemmActivation::none, M, N, K, 0));
        const std::vector<float> got = glu.download(), g = gate.download(), u = up.download();
        size_t differ = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          const float want = g[i] * u[i];
          differ += std::memcmp(&got[i], &want, sizeof(float)) != 0;
        }
        EXPECT_EQ(differ, 0u) << "of " << got.size();
        EXPECT_TRUE(glu.guards_intact());
      }
  DeviceBuffer<float> a(9 * 64), c(9 * 64);
  DeviceBuffer<uint16_t> w(64 * 64 + 8);
  EXPECT_FALSE(kc::gemm_bf16_f32a_glu(a.get(), 64, w.get(), w.get(), 64, c.get(), 64, GemmActivation::silu, 9, 64,
                                      64, 0))
      << "more than 8 rows";
  EXPECT_FALSE(kc::gemm_bf16_f32a_glu(a.get(), 64, w.get(), w.get() + 1, 64, c.get(), 64, GemmActivation::silu, 1,
                                      64, 64, 0))
      << "an up weight not 16-byte aligned";
  for (float v : c.download()) ASSERT_TRUE(std::isnan(v)) << "a refused call wrote C";
}

TEST(CudaGemmBf16, BackendSwitchAndArgumentChecks) {
  RS_REQUIRE_CUDA();
  GemmSettingsGuard guard;
  kc::set_gemm_backend(GemmBackend::cublas);
  EXPECT_EQ(kc::gemm_backend(), GemmBackend::cublas);
  kc::set_gemm_backend(GemmBackend::ours);
  EXPECT_EQ(kc::gemm_backend(), GemmBackend::ours);

  DeviceBuffer<uint16_t> a(64), b(64), c(64);
  for (Path path : {Path::ours, Path::cublas_direct}) {
    SCOPED_TRACE(path_name(path));
    // f16 output is not offered; ldc < N would overlap rows.
    EXPECT_THROW(call_gemm(path, a.get(), 8, b.get(), 8, true, c.get(), DType::f16, 8, nullptr,
                           GemmActivation::none, 8, 8, 8),
                 DTypeError);
    EXPECT_THROW(call_gemm(path, a.get(), 8, b.get(), 8, true, c.get(), DType::bf16, 4, nullptr,
                           GemmActivation::none, 8, 8, 8),
                 ValueError);
  }
  EXPECT_TRUE(c.guards_intact());
}

}  // namespace
}  // namespace rscapret
