#include "app/device_option.h"

#include <cstdio>

#include "api/model_setup.h"
#include "kernels/cpu/gemm.h"

namespace rscapret::app {

void add_device_option(CLI::App* cmd, std::string& device, const char* what) {
  cmd->add_option("--device", device, std::string("cpu (default) or cuda[:N]: where the model ") + what);
}

Device parse_device_option(const std::string& device) { return api::parse_device(device, "--device"); }

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

void check_quantize_option(const std::string& quantize, Device device) { api::check_quantize(quantize, device); }

namespace {
void print_report(const api::QuantizeReport& r) {
  if (r.layers > 0)
    std::fprintf(stderr, "quantized %lld linear layers to q8_0: %.1f MB of weights -> %.1f MB\n",
                 (long long)r.layers, double(r.bytes_before) / 1e6, double(r.bytes_after) / 1e6);
}
}  // namespace

void apply_quantize_option(const std::string& quantize, nn::Module& model, Device device) {
  print_report(api::apply_quantize(quantize, model, device));
}

models::RsCapRetBundle load_model_option(const std::filesystem::path& dir, Device device, const std::string& quantize) {
  api::QuantizeReport r;
  models::RsCapRetBundle b = api::load_model(dir, device, quantize, &r);
  print_report(r);
  return b;
}

}  // namespace rscapret::app
