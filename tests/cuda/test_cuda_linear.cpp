// ops::linear on the GPU: with bf16 weights and no gradient it is one GEMM with bias and activation
// in the epilogue (wgmma, mma.sync or the skinny kernel by shape); it must equal the composed ops
// (matmul, add, activation) on the same GPU, and the CPU within bf16 rounding of the input.
#include <array>
#include <cstring>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/gemm_bf16_internal.h"
#include "tensor/rng.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/models/model_test_util.h"

namespace rscapret::testing {
namespace {

namespace kc = kernels::cuda;

const char* name(ops::Activation a) {
  switch (a) {
    case ops::Activation::none: return "none";
    case ops::Activation::quick_gelu: return "quick_gelu";
    case ops::Activation::gelu_erf: return "gelu_erf";
    case ops::Activation::gelu_tanh: return "gelu_tanh";
    case ops::Activation::silu: return "silu";
  }
  return "?";
}

// Restores the fused path when a test leaves.
struct FusedLinearGuard {
  ~FusedLinearGuard() { ops::set_cuda_fused_linear(true); }
};

TEST(CudaLinear, FusedEpilogueEqualsTheComposedOps) {
  RS_REQUIRE_CUDA();
  FusedLinearGuard restore;
  autograd::NoGradGuard no_grad;
  Generator g(21);
  const Device gpu = Device::cuda(0);
  // {rows, K, N}: wgmma tiles (N % 256, K % 64, a partial row tile), mma.sync (odd N), the skinny
  // decode kernel (one row), rows spread over a batch dim.
  for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{200, 128, 512}, std::array<int64_t, 3>{37, 40, 300},
                                         std::array<int64_t, 3>{1, 64, 256}, std::array<int64_t, 3>{9, 64, 512}})
    for (ops::Activation act : {ops::Activation::none, ops::Activation::quick_gelu, ops::Activation::gelu_erf,
                                ops::Activation::gelu_tanh, ops::Activation::silu})
      for (bool bias : {false, true}) {
        const std::string what = "rows " + std::to_string(s[0]) + " K " + std::to_string(s[1]) + " N " +
                                 std::to_string(s[2]) + " act " + name(act) + (bias ? " +bias" : "");
        SCOPED_TRACE(what);
        const Tensor x = g.normal({1, s[0], s[1]});                    // [1, rows, K]
        const Tensor w = g.normal({s[2], s[1]}, 0.0, 0.2).to(DType::bf16);  // [N, K]
        const Tensor b = bias ? g.normal({s[2]}) : Tensor();              // [N]
        const Tensor xg = x.to(gpu), wg = w.to(gpu), bg = bias ? b.to(gpu) : Tensor();
        ops::set_cuda_fused_linear(true);
        const Tensor fused = ops::linear(xg, wg, bg, act).to(Device::cpu());
        ops::set_cuda_fused_linear(false);
        const Tensor composed = ops::linear(xg, wg, bg, act).to(Device::cpu());
        ASSERT_EQ(fused.shape(), (Shape{1, s[0], s[2]}));
        // The same bf16 products accumulated by the same kernel family, then bias and activation in
        // f32 (epilogue vs elementwise kernels): a few ulp.
        EXPECT_TRUE(close_rel("fused vs composed " + what, fused, composed, 1e-5));
        // The CPU multiplies the f32 input by the bf16 weights; the GPU rounds the input to bf16
        // first (autocast style): 2^-9 relative per element, ~1e-3 over the row.
        EXPECT_TRUE(close_rel("GPU vs CPU " + what, fused, ops::linear(x, w, b, act), 1e-2));
      }
}

// ops::gated_linear (the LLaMA MLP's silu(x Wg^T) * x Wu^T): one kernel at decode on the GPU, the
// composed ops elsewhere; equal to the composed ops on the GPU and to the CPU within bf16 rounding.
TEST(CudaLinear, GatedLinearEqualsTheComposedOps) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(23);
  const Device gpu = Device::cuda(0);
  for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{1, 64, 256}, std::array<int64_t, 3>{5, 136, 33},
                                         std::array<int64_t, 3>{9, 64, 512}}) {  // 9 rows: the composed path
    const std::string what = "rows " + std::to_string(s[0]) + " K " + std::to_string(s[1]) + " N " + std::to_string(s[2]);
    SCOPED_TRACE(what);
    const Tensor x = g.normal({1, s[0], s[1]});                          // [1, rows, K]
    const Tensor wg = g.normal({s[2], s[1]}, 0.0, 0.2).to(DType::bf16);  // [N, K]
    const Tensor wu = g.normal({s[2], s[1]}, 0.0, 0.2).to(DType::bf16);  // [N, K]
    const Tensor xg = x.to(gpu), wgg = wg.to(gpu), wug = wu.to(gpu);
    const Tensor gated = ops::gated_linear(xg, wgg, wug, ops::Activation::silu).to(Device::cpu());
    const Tensor composed =
        ops::mul(ops::linear(xg, wgg, {}, ops::Activation::silu), ops::linear(xg, wug)).to(Device::cpu());
    ASSERT_EQ(gated.shape(), (Shape{1, s[0], s[2]}));
    EXPECT_TRUE(close_rel("gated vs composed " + what, gated, composed, 1e-6));
    EXPECT_TRUE(close_rel("GPU vs CPU " + what, gated, ops::gated_linear(x, wg, wu, ops::Activation::silu), 1e-2));
  }
}

// ops::linear_add (residual + linear: o_proj, down_proj, fc2): the residual added in the epilogue of
// the skinny kernel (up to 8 rows, f32 or bf16 input) or the wgmma kernel (200 rows x 512 and 300 x
// 1024: both tile widths' shapes; bf16 input as the handoff gives it), the composed ops elsewhere (9
// rows x 512 on a GPU without wgmma, 37 x 300); every way the bits of add(residual, linear(x)) on the
// same GPU. Added in the twelfth session without a GPU.
TEST(CudaLinear, LinearAddHasTheBitsOfTheComposedOps) {
  RS_REQUIRE_CUDA();
  autograd::NoGradGuard no_grad;
  Generator g(24);
  const Device gpu = Device::cuda(0);
  for (const std::array<int64_t, 3> s : {std::array<int64_t, 3>{1, 64, 256}, std::array<int64_t, 3>{5, 136, 33},
                                         std::array<int64_t, 3>{8, 64, 300}, std::array<int64_t, 3>{9, 64, 512},
                                         std::array<int64_t, 3>{200, 128, 512}, std::array<int64_t, 3>{300, 192, 1024},
                                         std::array<int64_t, 3>{37, 40, 300}})
    for (bool bias : {false, true})
    for (DType in : {DType::f32, DType::bf16}) {
      const std::string what = "rows " + std::to_string(s[0]) + " K " + std::to_string(s[1]) + " N " +
                               std::to_string(s[2]) + (bias ? " +bias" : "") + " input " + std::string(dtype_name(in));
      SCOPED_TRACE(what);
      const Tensor x = g.normal({1, s[0], s[1]}).to(in).to(gpu);                   // [1, rows, K]
      const Tensor w = g.normal({s[2], s[1]}, 0.0, 0.2).to(DType::bf16).to(gpu);  // [N, K]
      const Tensor b = bias ? g.normal({s[2]}).to(gpu) : Tensor();                 // [N]
      const Tensor r = g.normal({1, s[0], s[2]}).to(gpu);                          // [1, rows, N]
      // On Hopper the wgmma shapes must really take the wgmma epilogue (a silent fallback to the
      // composed ops would pass the bit comparison below).
      const bool wgmma_shape = s[0] > 8 && s[2] % 256 == 0 && s[1] % 64 == 0 && kc::gemm_bf16_wgmma_supported(0);
      const int64_t launches_before = kc::gemm_bf16_wgmma_launches();
      const Tensor fused_gpu = ops::linear_add(x, w, b, r);
      if (wgmma_shape) {
        EXPECT_EQ(kc::gemm_bf16_wgmma_launches() - launches_before, 1) << "the wgmma epilogue ran";
      }
      const Tensor fused = fused_gpu.to(Device::cpu());
      const Tensor composed = ops::add(r, ops::linear(x, w, b)).to(Device::cpu());
      ASSERT_EQ(fused.shape(), composed.shape());
      const std::vector<float> fv = fused.to_vector<float>(), cv = composed.to_vector<float>();
      int64_t differ = 0;
      for (size_t i = 0; i < fv.size(); ++i) differ += std::memcmp(&fv[i], &cv[i], 4) != 0;
      EXPECT_EQ(differ, 0) << "elements whose bits differ from add(residual, linear(x))";
    }
}

TEST(CudaLinear, GradientsTakeTheComposedPath) {
  RS_REQUIRE_CUDA();
  Generator g(22);
  const Device gpu = Device::cuda(0);
  Tensor x = g.normal({4, 64}).to(gpu);
  x.set_requires_grad(true);
  const Tensor w = g.normal({256, 64}, 0.0, 0.2).to(DType::bf16).to(gpu);
  const Tensor b = g.normal({256}).to(gpu);
  const Tensor y = ops::linear(x, w, b, ops::Activation::gelu_tanh);
  autograd::backward(ops::sum_all(y));
  ASSERT_TRUE(x.grad().defined()) << "a linear whose input wants a gradient must record its graph";
  // Against the CPU's gradient of the same function.
  Tensor xc = ops::detach(x).to(Device::cpu());
  xc.set_requires_grad(true);
  autograd::backward(ops::sum_all(ops::linear(xc, w.to(Device::cpu()), b.to(Device::cpu()), ops::Activation::gelu_tanh)));
  EXPECT_TRUE(close_rel("input gradient", x.grad().to(Device::cpu()), xc.grad(), 1e-2));
}

}  // namespace
}  // namespace rscapret::testing
