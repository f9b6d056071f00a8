#include "app/device_option.h"

#include <cstdio>

#include "kernels/cpu/gemm.h"
#include "nn/linear.h"
#include "tensor/device_backend.h"
#include "tensor/error.h"

namespace rscapret::app {

void add_device_option(CLI::App* cmd, std::string& device, const char* what) {
  cmd->add_option("--device", device, std::string("cpu (default) or cuda[:N]: where the model ") + what);
}

Device parse_device_option(const std::string& device) {
  const Device d = Device::parse(device);
  if (d.is_cuda()) {
    const int n = cuda_runtime::device_count();
    RS_CHECK(d.index < n, DeviceError, "device", "--device ", device, ": this machine has ", n, " CUDA device(s)",
             n == 0 ? " (or this build has no CUDA backend)" : "");
  }
  return d;
}

void add_matmul_precision_option(CLI::App* cmd) {
  cmd->add_option_function<std::string>(
         "--matmul-precision",
         [](const std::string& name) { kernels::set_matmul_precision(kernels::matmul_precision_from_name(name)); },
         "f32 (default): CPU matrix products in f32. bf16: activations rounded to bf16 and multiplied "
         "with AVX-512 BF16 dot products where the CPU has them (faster GEMMs, with bf16, f32 or q8_0 weights; "
         "results at bf16 precision). int8: with --quantize q8_0, decoding quantizes the activations "
         "to 8 bits too and multiplies with AVX-512 VNNI (faster decoding). The GPU multiplies bf16 "
         "weights in bf16 either way")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}));
}

void add_quantize_option(CLI::App* cmd, std::string& quantize) {
  cmd->add_option("--quantize", quantize,
                  "none (default) or q8_0: the frozen decoder's linear weights as 8-bit codes with one "
                  "f32 scale per 32 weights (about 1.1 bytes a weight; activations stay f32). CPU only")
      ->check(CLI::IsMember({"none", "q8_0"}));
}

void check_quantize_option(const std::string& quantize, Device device) {
  if (quantize == "none" || quantize.empty()) return;
  RS_CHECK(quantize == "q8_0", ValueError, "quantize", "expected none or q8_0, got '", quantize, "'");
  RS_CHECK(!device.is_cuda(), ValueError, "quantize",
           "--quantize q8_0 runs on the CPU; on a GPU the bf16 weights run on the tensor cores (drop --quantize)");
}

void apply_quantize_option(const std::string& quantize, nn::Module& model, Device device) {
  check_quantize_option(quantize, device);
  nn::check_q8_on_cpu(model, device, "quantize");  // a decoder stored as q8_0 cannot run there either
  if (quantize == "none" || quantize.empty()) return;
  int64_t before = 0, after = 0;
  for (const auto& [name, m] : model.named_modules())
    if (const auto* lin = dynamic_cast<const nn::Linear*>(m); lin && lin->weight.defined() && !lin->weight.requires_grad())
      before += lin->weight.numel() * int64_t(lin->weight.element_size());
  const int64_t n = nn::quantize_linears_q8(model);
  for (const auto& [name, m] : model.named_modules())
    if (const auto* lin = dynamic_cast<const nn::Linear*>(m); lin && lin->is_quantized())
      after += lin->q8_weight().codes.numel() + lin->q8_weight().scales.numel() * 4;
  std::fprintf(stderr, "quantized %lld linear layers to q8_0: %.1f MB of weights -> %.1f MB\n", (long long)n,
               double(before) / 1e6, double(after) / 1e6);
}

}  // namespace rscapret::app
