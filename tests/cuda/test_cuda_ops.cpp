// Every registered op on CUDA against the same op on the CPU: forward values, then the gradient of
// a random cotangent with respect to every floating input (through the CUDA backward kernels or
// composed CUDA ops). CudaOpCoverage fails when a non-view op has no CUDA kernel or no case here.
#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "autograd/autograd.h"
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "autograd/registry.h"
#include "tensor/rng.h"
#include "tests/cuda/cuda_test_util.h"

namespace rscapret::testing {
namespace {

const Device kCuda = Device::cuda(0);

struct OpCase {
  std::vector<Tensor> inputs;  // on the CPU
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  // Relative L2 error allowed, forward and gradients. f32 kernels on both sides; the sums run in a
  // different order (tree vs sequential), so a few ulp of the largest partial sums: 1e-5 for
  // elementwise and short reductions, 1e-4 for long sums (matmul, attention, norms' column sums).
  double tol = 1e-5;
  // Gradients: a backward is a few more f32 ops and sums than its forward, so 10x the forward's
  // bound unless the case says otherwise (bf16 GEMMs in the backward).
  double grad_tol = -1;
};

double rel_l2(const Tensor& got, const Tensor& want) {
  const std::vector<double> g = got.to(Device::cpu()).to_vector<double>(), w = want.to_vector<double>();
  return rel_err(g, w);
}

bool is_float(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::f16; }

void check_case(const std::string& name, const OpCase& c, bool differentiable) {
  SCOPED_TRACE(name);
  // CPU: leaves that require grad where floating.
  std::vector<Tensor> cpu_in, cuda_in, wanted_cpu, wanted_cuda;
  for (const Tensor& x : c.inputs) {
    Tensor a = x.clone(), b = x.to(kCuda);
    if (is_float(x.dtype()) && x.numel() > 0) {
      a.set_requires_grad(true);
      b.set_requires_grad(true);
      wanted_cpu.push_back(a);
      wanted_cuda.push_back(b);
    }
    cpu_in.push_back(a);
    cuda_in.push_back(b);
  }
  const Tensor out_cpu = c.fn(cpu_in), out_cuda = c.fn(cuda_in);
  ASSERT_TRUE(out_cuda.device().is_cuda()) << "result left the device: " << out_cuda.describe();
  ASSERT_EQ(out_cpu.shape(), out_cuda.shape());
  ASSERT_EQ(out_cpu.dtype(), out_cuda.dtype());
  if (!is_float(out_cpu.dtype())) {  // ids and masks: exact
    EXPECT_EQ(out_cpu.to_vector<double>(), out_cuda.to(Device::cpu()).to_vector<double>());
    return;
  }
  EXPECT_LE(rel_l2(out_cuda, out_cpu), c.tol) << "forward";
  if (!differentiable || !out_cpu.requires_grad() || wanted_cpu.empty() || out_cpu.numel() == 0) return;
  Generator g(99);
  const Tensor cot = g.normal(out_cpu.shape()).to(out_cpu.dtype());
  const std::vector<Tensor> gc = autograd::grad(out_cpu, wanted_cpu, cot);
  const std::vector<Tensor> gd = autograd::grad(out_cuda, wanted_cuda, cot.to(kCuda));
  ASSERT_EQ(gc.size(), gd.size());
  for (size_t i = 0; i < gc.size(); ++i) {
    ASSERT_TRUE(gd[i].device().is_cuda()) << "gradient " << i << " left the device";
    EXPECT_LE(rel_l2(gd[i], gc[i]), c.grad_tol > 0 ? c.grad_tol : c.tol * 10) << "gradient of input " << i;
  }
}

using Unary = Tensor (*)(const Tensor&);

std::map<std::string, std::vector<OpCase>> build_cases() {
  std::map<std::string, std::vector<OpCase>> m;
  Generator g(7);
  auto unary = [&](const char* n, Unary f, double lo = -4, double hi = 4) {
    m[n].push_back({{g.uniform({3, 257}, lo, hi)}, [f](const auto& x) { return f(x[0]); }});
    // A transposed view: the device copy kernel makes it dense first.
    m[n].push_back({{g.uniform({33, 5}, lo, hi)}, [f](const auto& x) { return f(ops::transpose(x[0], 0, 1)); }});
  };
  unary("neg", ops::neg);
  unary("exp", ops::exp);
  unary("log", ops::log, 0.01, 10);
  unary("sqrt", ops::sqrt, 0.01, 10);
  unary("rsqrt", ops::rsqrt, 0.1, 10);
  unary("tanh", ops::tanh);
  unary("sigmoid", ops::sigmoid);
  unary("gelu_erf", ops::gelu_erf);
  unary("gelu_tanh", ops::gelu_tanh);
  unary("quick_gelu", ops::quick_gelu);
  unary("silu", ops::silu);
  unary("gelu_erf_grad", ops::gelu_erf_grad);
  unary("gelu_tanh_grad", ops::gelu_tanh_grad);
  unary("quick_gelu_grad", ops::quick_gelu_grad);
  unary("silu_grad", ops::silu_grad);
  m["pow_scalar"].push_back({{g.uniform({4, 77}, 0.1, 3)}, [](const auto& x) { return ops::pow_scalar(x[0], 2.5); }});

  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  auto binary = [&](const char* n, Binary f) {
    m[n].push_back({{g.uniform({4, 1, 7}, -3, 3), g.uniform({3, 1}, 0.5, 3)}, [f](const auto& x) { return f(x[0], x[1]); }});
    m[n].push_back({{g.uniform({5, 300}, -3, 3), g.uniform({5, 300}, 0.5, 3)}, [f](const auto& x) { return f(x[0], x[1]); }});
    // A host 0-d scalar joins the device computation.
    m[n].push_back({{g.uniform({2, 9}, -3, 3)}, [f](const auto& x) { return f(x[0], Tensor::scalar(1.75)); }});
  };
  binary("add", ops::add);
  binary("sub", ops::sub);
  binary("mul", ops::mul);
  binary("div", ops::div);
  for (auto [n, f] : std::vector<std::pair<const char*, Binary>>{
           {"eq", ops::eq}, {"ne", ops::ne}, {"lt", ops::lt}, {"le", ops::le}, {"gt", ops::gt}, {"ge", ops::ge}}) {
    // Rounded values so that equal elements occur.
    const Tensor a = ops::cast(ops::cast(g.uniform({6, 40}, -3, 3), DType::i64), DType::f32);
    const Tensor b = ops::cast(ops::cast(g.uniform({40}, -3, 3), DType::i64), DType::f32);
    m[n].push_back({{a, b}, [f](const auto& x) { return f(x[0], x[1]); }});
    m[n].push_back({{g.randint({50}, 4), g.randint({1}, 4)}, [f](const auto& x) { return f(x[0], x[1]); }});
  }
  m["where"].push_back({{ops::gt(g.uniform({4, 1, 9}), Tensor::scalar(0.5)), g.uniform({3, 9}), g.uniform({4, 3, 1})},
                        [](const auto& x) { return ops::where(x[0], x[1], x[2]); }});
  m["masked_fill"].push_back({{g.uniform({5, 64}), ops::gt(g.uniform({64}), Tensor::scalar(0.3))},
                              [](const auto& x) { return ops::masked_fill(x[0], x[1], -1e9); }});

  using Reduce = Tensor (*)(const Tensor&, int, bool);
  for (auto [n, f] : std::vector<std::pair<const char*, Reduce>>{
           {"sum", ops::sum}, {"mean", ops::mean}, {"max", ops::max}, {"logsumexp", ops::logsumexp}}) {
    m[n].push_back({{g.uniform({7, 1000}, -3, 3)}, [f](const auto& x) { return f(x[0], -1, false); }});
    m[n].push_back({{g.uniform({6, 33, 5}, -3, 3)}, [f](const auto& x) { return f(x[0], 1, true); }});
    m[n].push_back({{g.uniform({3, 70000}, -3, 3)}, [f](const auto& x) { return f(x[0], 1, false); }, 1e-4});
  }
  m["softmax"].push_back({{g.uniform({9, 513}, -5, 5)}, [](const auto& x) { return ops::softmax(x[0], -1); }});
  m["softmax"].push_back({{g.uniform({4, 17, 3}, -5, 5)}, [](const auto& x) { return ops::softmax(x[0], 1); }});
  m["log_softmax"].push_back({{g.uniform({9, 32000}, -5, 5)}, [](const auto& x) { return ops::log_softmax(x[0], -1); }, 1e-4});
  m["argmax"].push_back({{g.uniform({17, 301})}, [](const auto& x) { return ops::argmax(x[0], -1, false); }});

  m["layer_norm"].push_back({{g.normal({6, 768}, 1, 2), g.normal({768}), g.normal({768})},
                             [](const auto& x) { return ops::layer_norm(x[0], x[1], x[2], 1e-5); }, 1e-4});
  m["layer_norm"].push_back({{g.normal({2, 3, 37})}, [](const auto& x) { return ops::layer_norm(x[0], Tensor(), Tensor(), 1e-6); }, 1e-4});
  m["rms_norm"].push_back({{g.normal({5, 4096}), g.normal({4096})},
                           [](const auto& x) { return ops::rms_norm(x[0], x[1], 1e-6); }, 1e-4});
  m["rope"].push_back({{g.normal({2, 9, 4, 16}), Tensor::arange(9)},
                       [](const auto& x) { return ops::rope(x[0], x[1], 10000.0, ops::RopeLayout::half_split); }});
  m["rope"].push_back({{g.normal({1, 5, 2, 12}), Tensor::from_vector(std::vector<int64_t>{0, 7, 100, 1000, 4095}, {1, 5})},
                       [](const auto& x) { return ops::rope(x[0], x[1], 10000.0, ops::RopeLayout::interleaved, 8); }});

  m["embedding"].push_back({{g.normal({50, 24}), g.randint({3, 7}, 50)},
                            [](const auto& x) { return ops::embedding(x[0], x[1]); }});
  m["embedding"].push_back({{ops::cast(g.normal({50, 24}), DType::bf16), g.randint({11}, 50)},
                            [](const auto& x) { return ops::embedding(x[0], x[1]); }});
  m["index_select"].push_back({{g.normal({4, 10, 6}), Tensor::from_vector(std::vector<int64_t>{3, 3, 0, 9}, {4})},
                               [](const auto& x) { return ops::index_select(x[0], 1, x[1]); }});
  m["index_add"].push_back({{g.normal({8, 5}), Tensor::from_vector(std::vector<int64_t>{1, 7, 1, 0, 1}, {5}), g.normal({5, 5})},
                            [](const auto& x) { return ops::index_add(x[0], 0, x[1], x[2]); }});
  m["concat"].push_back({{g.normal({2, 3, 4}), g.normal({2, 5, 4}), g.normal({2, 1, 4})},
                         [](const auto& x) { return ops::concat({x[0], x[1], x[2]}, 1); }});
  m["stack"].push_back({{g.normal({3, 4}), g.normal({3, 4})}, [](const auto& x) { return ops::stack({x[0], x[1]}, 2); }});
  m["cast"].push_back({{g.normal({7, 9})}, [](const auto& x) { return ops::cast(x[0], DType::bf16); }});
  m["cast"].push_back({{g.normal({7, 9})}, [](const auto& x) { return ops::cast(ops::transpose(x[0], 0, 1), DType::f16); }});
  m["cast"].push_back({{g.randint({40}, 1000)}, [](const auto& x) { return ops::cast(x[0], DType::f32); }});

  m["matmul"].push_back({{g.normal({3, 65, 47}), g.normal({47, 33})}, [](const auto& x) { return ops::matmul(x[0], x[1]); }, 1e-5});
  m["matmul"].push_back({{g.normal({2, 1, 9, 17}), g.normal({3, 17, 5})}, [](const auto& x) { return ops::matmul(x[0], x[1]); }});
  // The Linear layout: x @ W^T with W [N, K] dense.
  m["matmul"].push_back({{g.normal({40, 300}), g.normal({129, 300})},
                         [](const auto& x) { return ops::matmul(x[0], ops::transpose(x[1], 0, 1)); }, 1e-5});
  // bf16 operands take the tensor-core GEMM on the device; the CPU converts them to f32 exactly,
  // so the only difference is f32 summation order over K = 256: 1e-5 relative still holds. The
  // backward multiplies the f32 cotangent by a bf16 operand, so the device rounds the cotangent
  // to bf16 there (see the next case): 1e-2 for the gradients (measured 1.7e-3 on an H100).
  m["matmul"].push_back({{ops::cast(g.normal({70, 256}), DType::bf16), ops::cast(g.normal({96, 256}), DType::bf16)},
                         [](const auto& x) { return ops::matmul(x[0], ops::transpose(x[1], 0, 1)); }, 1e-5, 1e-2});
  // f32 activations against bf16 weights: the device rounds the activations to bf16 (autocast
  // style), the CPU does not. bf16 keeps 8 bits: 2^-9 relative per element, averaging down over
  // K = 200 terms to a few 1e-3 of the result; 1e-2 catches any layout error (those give O(1)).
  m["matmul"].push_back({{g.normal({33, 200}), ops::cast(g.normal({57, 200}), DType::bf16)},
                         [](const auto& x) { return ops::matmul(x[0], ops::transpose(x[1], 0, 1)); }, 1e-2, 1e-2});
  {
    // q8_0 weights: the GPU multiplies by the composed dequantization in f32 (the CPU streams the
    // codes): the same products summed in another order, 1e-5 as the f32 matmul cases.
    const ops::Q8Weight q = ops::quantize_q8(g.normal({57, 200}));
    m["linear_q8"].push_back({{g.normal({3, 11, 200}), q.codes},
                              [s = q.scales](const auto& x) { return ops::linear_q8(x[0], x[1], s.to(x[0].device())); }, 1e-5});
    const ops::Q8Weight t = ops::quantize_q8(g.normal({9, 70}));  // a partial last block
    m["linear_q8"].push_back({{g.normal({1, 70}), t.codes},
                              [s = t.scales](const auto& x) { return ops::linear_q8(x[0], x[1], s.to(x[0].device())); }, 1e-5});
  }
  m["matmul"].push_back({{g.normal({37}), g.normal({37, 4})}, [](const auto& x) { return ops::matmul(x[0], x[1]); }});
  // A batched Linear with bf16 weights: the batches fold into one GEMM of 4 x 33 rows.
  m["matmul"].push_back({{g.normal({4, 33, 200}), ops::cast(g.normal({57, 200}), DType::bf16)},
                         [](const auto& x) { return ops::matmul(x[0], ops::transpose(x[1], 0, 1)); }, 1e-2, 1e-2});

  Tensor targets = g.randint({4, 9}, 1000);
  {
    std::vector<int64_t> t = targets.to_vector<int64_t>();
    t[3] = t[17] = -100;  // ignored rows
    targets = Tensor::from_vector(t, {4, 9});
  }
  m["cross_entropy"].push_back({{g.normal({4, 9, 1000}, 0, 3), targets},
                                [](const auto& x) { return ops::cross_entropy(x[0], x[1], -100); }, 1e-5});

  auto attn = [&](int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, bool causal, bool mask) {
    std::vector<Tensor> in = {g.normal({B, H, Tq, D}), g.normal({B, Hkv, Tk, D}), g.normal({B, Hkv, Tk, D})};
    if (mask) {
      std::vector<bool> keep(size_t(B * Tk), true);
      for (int64_t j = Tk - 3; j < Tk; ++j) keep[size_t(j)] = false;              // padding in batch 0
      if (B > 1) std::fill(keep.begin() + Tk, keep.begin() + 2 * Tk, false);  // batch 1 sees nothing
      in.push_back(Tensor::from_vector(keep, {B, Tk}));
    }
    m["attention"].push_back({in, [causal, mask](const auto& x) {
                                ops::AttentionOptions o;
                                o.causal = causal;
                                if (mask) o.key_keep = x[3];
                                return ops::attention(x[0], x[1], x[2], o);
                              }, 1e-4});
  };
  // bf16 autocast: the tensor-core flash kernels (q, k, v rounded to bf16, 8 significant bits).
  // The lab measured 2e-3 (out) and 2.4e-3 (gradients) against the f32 kernel at large shapes;
  // 1e-2 for both, while a wrong mask or layout gives O(1).
  auto attn16 = [&](int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, bool causal) {
    m["attention"].push_back({{g.normal({B, H, Tq, D}), g.normal({B, Hkv, Tk, D}), g.normal({B, Hkv, Tk, D})},
                              [causal](const auto& x) {
                                ops::CudaAutocastBf16Guard autocast;
                                ops::AttentionOptions o;
                                o.causal = causal;
                                return ops::attention(x[0], x[1], x[2], o);
                              }, 1e-2, 1e-2});
  };
  attn16(2, 4, 2, 37, 37, 64, true);
  attn16(1, 2, 2, 5, 130, 128, false);
  attn(2, 4, 2, 37, 37, 16, true, false);
  attn(2, 2, 2, 5, 70, 64, false, true);
  attn(1, 8, 1, 1, 130, 128, true, false);
  return m;
}

const std::map<std::string, std::vector<OpCase>>& cases() {
  static const auto c = build_cases();
  return c;
}

TEST(CudaOpCoverage, EveryOpHasACudaKernelAndACase) {
  for (const auto& op : ops::op_registry()) {
    if (op.is_view()) continue;  // views move no data: the device copy kernel serves them
    EXPECT_TRUE(op.has_cuda) << "op '" << op.name << "' has no CUDA kernel";
    EXPECT_TRUE(cases().count(op.name)) << "op '" << op.name << "' has no case in test_cuda_ops.cpp";
  }
}

class CudaOps : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaOps, MatchTheCpu) {
  RS_REQUIRE_CUDA();
  const auto& list = cases().at(GetParam());
  const ops::OpInfo* info = ops::find_op(GetParam());
  ASSERT_NE(info, nullptr);
  for (size_t i = 0; i < list.size(); ++i)
    check_case(GetParam() + " case " + std::to_string(i), list[i], info->differentiable);
}

std::vector<std::string> case_names() {
  std::vector<std::string> n;
  for (const auto& [k, v] : cases()) n.push_back(k);
  return n;
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaOps, ::testing::ValuesIn(case_names()), [](const auto& i) { return i.param; });

// Tensor-level device paths that the ops rely on.
TEST(CudaTensor, CopiesCastsAndFills) {
  RS_REQUIRE_CUDA();
  Generator g(3);
  const Tensor x = g.normal({5, 6, 7});
  // A permuted device view made dense on the device matches the host.
  const Tensor d = x.to(kCuda).permute({2, 0, 1}).contiguous();
  EXPECT_EQ(d.to(Device::cpu()).to_vector<float>(), x.permute({2, 0, 1}).contiguous().to_vector<float>());
  // to(dtype) on the device rounds as the host does.
  EXPECT_EQ(x.to(kCuda).to(DType::bf16).to(Device::cpu()).to(DType::f32).to_vector<float>(),
            x.to(DType::bf16).to(DType::f32).to_vector<float>());
  // copy_from into a strided device view.
  Tensor big = Tensor::zeros({5, 6, 14}, DType::f32, kCuda);
  big.narrow(2, 7, 7).copy_from(x);
  const Tensor back = big.to(Device::cpu());
  EXPECT_EQ(back.narrow(2, 7, 7).contiguous().to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(back.narrow(2, 0, 7).contiguous().to_vector<float>(), std::vector<float>(210, 0.0f));
  EXPECT_EQ(Tensor::full({3}, 2.5, DType::f32, kCuda).to(Device::cpu()).to_vector<float>(),
            std::vector<float>({2.5f, 2.5f, 2.5f}));
}

TEST(CudaRuntime, CachingAllocatorReusesFreedBlocks) {
  RS_REQUIRE_CUDA();
  cuda_runtime::synchronize(0);
  { Tensor warm = Tensor::empty({1 << 20}, DType::f32, kCuda); }
  const auto before = cuda_runtime::memory_stats(0);
  for (int i = 0; i < 100; ++i) Tensor t = Tensor::empty({1 << 20}, DType::f32, kCuda);
  const auto after = cuda_runtime::memory_stats(0);
  EXPECT_EQ(after.device_mallocs, before.device_mallocs) << "a freed block of the same size was not reused";
  EXPECT_EQ(after.allocated, before.allocated);
  // An impossible size fails with a clear DeviceError, not a crash, and leaves the allocator usable.
  EXPECT_THROW(Tensor::empty({int64_t(1) << 42}, DType::f32, kCuda), Error);
  EXPECT_NO_THROW(Tensor::empty({1024}, DType::f32, kCuda));
}

TEST(CudaRuntime, LargeCopiesRoundTripThroughTheStagingBuffers) {
  RS_REQUIRE_CUDA();
  // 40 MB: five 8 MiB staging chunks and a partial one, both directions.
  Generator g(11);
  const Tensor x = g.normal({10'000'003});
  const Tensor back = x.to(kCuda).to(Device::cpu());
  EXPECT_EQ(back.to_vector<float>(), x.to_vector<float>());
}

}  // namespace
}  // namespace rscapret::testing
