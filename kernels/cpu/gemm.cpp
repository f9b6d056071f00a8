#include "kernels/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_packed16.h"
#include "kernels/cpu/gemv_half.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd_kernels.h"
#include "tensor/error.h"

namespace rscapret::kernels {

namespace {

// A dense f32 view of an operand: layout (trans?) and leading dimension for CBLAS.
struct Dense {
  const float* data;
  bool trans;  // false: element (i, k) at i * ld + k; true: at k * ld + i
  int64_t ld;
};

Dense dense_view(const float* p, const MatrixOperand& op, int64_t rows, int64_t cols) {
  if ((op.col_stride == 1 || cols == 1) && (rows == 1 || op.row_stride >= cols))
    return {p, false, rows == 1 ? std::max<int64_t>(cols, 1) : op.row_stride};
  return {p, true, cols == 1 ? std::max<int64_t>(rows, 1) : op.col_stride};
}

void convert_to_f32(const void* src, DType t, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  if (t == DType::bf16) simd::bf16_to_f32(s, dst, n);
  else simd::f16_to_f32(s, dst, n);
}

// Copies rows [r0, r0 + nr) of an operand (rows x cols) into a dense row-major f32 block.
void convert_rows(const MatrixOperand& op, int64_t r0, int64_t nr, int64_t cols, float* out) {
  const size_t esz = dtype_size(op.dtype);
  const char* base = static_cast<const char*>(op.data);
  if (op.col_stride == 1) {
    for (int64_t r = 0; r < nr; ++r)
      convert_to_f32(base + size_t((r0 + r) * op.row_stride) * esz, op.dtype, out + r * cols, cols);
  } else {
    // Column-dense layout: gather element by element (rare: a transposed activation in 16 bits).
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const uint16_t bits = *reinterpret_cast<const uint16_t*>(
            base + size_t((r0 + r) * op.row_stride + c * op.col_stride) * esz);
        out[r * cols + c] = op.dtype == DType::bf16 ? bf16_to_f32(bits) : f16_to_f32(bits);
      }
  }
}

// Columns [c0, c0 + nc) of a (rows x cols) operand, as a dense f32 block stored column-major, i.e.
// as nc rows of length `rows` (so B tiles of a transposed weight stay contiguous reads).
void convert_cols(const MatrixOperand& op, int64_t c0, int64_t nc, int64_t rows, float* out) {
  MatrixOperand t{op.data, op.dtype, op.col_stride, op.row_stride};  // the transpose
  convert_rows(t, c0, nc, rows, out);
}

void sgemm_dense(const Dense& a, const Dense& b, float* C, int64_t ldc, int64_t M, int64_t K, int64_t N) {
  if (M == 1) {
    // Decode-shaped products go through gemv: OpenBLAS sgemm at M = 1 is about 4x slower.
    if (!b.trans)  // B (K x N) row-major: c = B^T a
      cblas_sgemv(CblasRowMajor, CblasTrans, int(K), int(N), 1.0f, b.data, int(b.ld), a.data,
                  a.trans ? int(a.ld) : 1, 0.0f, C, 1);
    else  // B stored as W (N x K) row-major: c = W a
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(N), int(K), 1.0f, b.data, int(b.ld), a.data,
                  a.trans ? int(a.ld) : 1, 0.0f, C, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, a.trans ? CblasTrans : CblasNoTrans, b.trans ? CblasTrans : CblasNoTrans,
              int(M), int(N), int(K), 1.0f, a.data, int(a.ld), b.data, int(b.ld), 0.0f, C, int(ldc));
}

bool is_half(DType t) { return t == DType::bf16 || t == DType::f16; }

std::atomic<int64_t> g_gemm_ns{0};
std::atomic<MatmulPrecision> g_precision{MatmulPrecision::f32};
struct GemmTimer {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~GemmTimer() {
    g_gemm_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  }
};

}  // namespace

int64_t gemm_nanoseconds() { return g_gemm_ns.load(); }
void reset_gemm_nanoseconds() { g_gemm_ns.store(0); }

void set_matmul_precision(MatmulPrecision p) { g_precision.store(p); }
MatmulPrecision matmul_precision() { return g_precision.load(); }
MatmulPrecision matmul_precision_from_name(std::string_view name) {
  if (name == "f32") return MatmulPrecision::f32;
  if (name == "bf16") return MatmulPrecision::bf16;
  if (name == "int8") return MatmulPrecision::int8;
  RS_CHECK(false, ValueError, "matmul precision", "expected f32, bf16 or int8, got '", name, "'");
  return MatmulPrecision::f32;
}

bool empty_product(float* C, int64_t M, int64_t K, int64_t N) {
  if (M == 0 || N == 0) return true;
  if (K != 0) return false;
  std::memset(C, 0, size_t(M * N) * sizeof(float));
  return true;
}

bool gemm_layout_ok(const MatrixOperand& op, int64_t rows, int64_t cols) {
  // BLAS needs one dense direction and a leading dimension that does not overlap rows/columns.
  const bool row_major = (op.col_stride == 1 || cols == 1) && (rows == 1 || op.row_stride >= cols);
  const bool col_major = (op.row_stride == 1 || rows == 1) && (cols == 1 || op.col_stride >= rows);
  return row_major || col_major;
}

void gemm(const MatrixOperand& A, const MatrixOperand& B, float* C, int64_t M, int64_t K, int64_t N) {
  const GemmTimer timer;
  if (empty_product(C, M, K, N)) return;
  RS_ASSERT(gemm_layout_ok(A, M, K) && gemm_layout_ok(B, K, N), "gemm layout: A strides ", A.row_stride, ",",
            A.col_stride, " B strides ", B.row_stride, ",", B.col_stride, " M K N ", M, " ", K, " ", N);
  RS_ASSERT(A.dtype == DType::f32 || is_half(A.dtype), "gemm dtype");
  RS_ASSERT(B.dtype == DType::f32 || is_half(B.dtype), "gemm dtype");
  // Small M with a 16-bit weight in its natural [N, K] layout: stream the weight once, widening
  // in registers (decode is bound by weight bytes; a converted f32 tile would double them).
  if (A.dtype == DType::f32 && A.col_stride == 1 && M <= kGemvHalfMaxM && is_half(B.dtype) && B.row_stride == 1 &&
      (N == 1 || B.col_stride >= K)) {
    gemv_half(B.dtype == DType::bf16, static_cast<const float*>(A.data), M == 1 ? K : A.row_stride, M,
              static_cast<const uint16_t*>(B.data), N == 1 ? K : B.col_stride, N, K, C, N);
    return;
  }
  if (M > kGemvHalfMaxM && matmul_precision() == MatmulPrecision::bf16 && cpu_has_bf16_dot()) {
    gemm_bf16_dot(A, B, C, M, K, N);
    return;
  }
  // f32 products with a 16-bit weight: widened in registers from a packed 16-bit panel (1.1-5.5x
  // the widen-a-tile-then-OpenBLAS path below, bench/RESULTS.md).
  if (M > kGemvHalfMaxM && A.dtype == DType::f32 && is_half(B.dtype) && cpu_has_avx512()) {
    gemm_f32_16bit_weights(A, B, C, M, K, N);
    return;
  }
  // OpenBLAS keeps its own pool; telling it the thread count only when it changes keeps this
  // call off the per-matmul path.
  static thread_local int blas_threads = -1;
  if (blas_threads != num_threads()) openblas_set_num_threads(blas_threads = num_threads());

  // Tiles hold about 4M floats (16 MB) of converted operand: wide enough (N >= 1024 at K = 4096)
  // that OpenBLAS runs at full speed on each tile.
  const int64_t kTileFloats = 1 << 22;
  const int64_t mt = is_half(A.dtype) ? std::clamp<int64_t>(kTileFloats / K, 16, M) : M;
  const int64_t nt = is_half(B.dtype) ? std::clamp<int64_t>(kTileFloats / K / 16 * 16, 16, N) : N;
  std::vector<float> a_buf(is_half(A.dtype) ? size_t(mt * K) : 0);
  std::vector<float> b_buf(is_half(B.dtype) ? size_t(nt * K) : 0);
  std::vector<float> c_tile(is_half(B.dtype) && nt < N ? size_t(mt * nt) : 0);

  for (int64_t m0 = 0; m0 < M; m0 += mt) {
    const int64_t mm = std::min(mt, M - m0);
    Dense a;
    if (is_half(A.dtype)) {
      convert_rows(A, m0, mm, K, a_buf.data());
      a = {a_buf.data(), false, K};
    } else {
      const float* p = static_cast<const float*>(A.data) + m0 * A.row_stride;
      a = dense_view(p, A, mm, K);
    }
    for (int64_t n0 = 0; n0 < N; n0 += nt) {
      const int64_t nn = std::min(nt, N - n0);
      Dense b;
      if (is_half(B.dtype) && B.col_stride == 1 && nn > 1) {
        // Row-major B (dX = dY W in a Linear's backward reads W itself): K rows of nn contiguous
        // elements each, converted with SIMD; the transposed copy would gather column by column.
        const char* base = static_cast<const char*>(B.data);
        for (int64_t r = 0; r < K; ++r)
          convert_to_f32(base + size_t(r * B.row_stride + n0) * 2, B.dtype, b_buf.data() + r * nn, nn);
        b = {b_buf.data(), false, nn};
      } else if (is_half(B.dtype)) {
        convert_cols(B, n0, nn, K, b_buf.data());  // nn rows of K: B's tile transposed
        b = {b_buf.data(), true, K};
      } else {
        b = dense_view(static_cast<const float*>(B.data) + n0 * B.col_stride, B, K, nn);
      }
      float* c = C + m0 * N + n0;
      if (nn == N) {
        sgemm_dense(a, b, c, N, mm, K, nn);
      } else {
        // gemv writes a dense vector and ldc handles sgemm; a tile buffer keeps both simple.
        sgemm_dense(a, b, c_tile.data(), nn, mm, K, nn);
        for (int64_t i = 0; i < mm; ++i)
          std::memcpy(c + i * N, c_tile.data() + i * nn, size_t(nn) * sizeof(float));
      }
    }
  }
}

}  // namespace rscapret::kernels
