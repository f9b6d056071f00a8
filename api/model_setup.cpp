#include "api/model_setup.h"

#include "nn/linear.h"
#include "tensor/device_backend.h"
#include "tensor/error.h"

namespace rscapret::api {

Device parse_device(const std::string& device, const char* option) {
  const Device d = Device::parse(device);
  if (d.is_cuda()) {
    const int n = cuda_runtime::device_count();
    RS_CHECK(d.index < n, DeviceError, "device", option, " ", device, ": this machine has ", n, " CUDA device(s)",
             n == 0 ? " (or this build has no CUDA backend)" : "");
  }
  return d;
}

void check_quantize(const std::string& quantize, Device device) {
  if (quantize == "none" || quantize.empty()) return;
  RS_CHECK(quantize == "q8_0", ValueError, "quantize", "expected none or q8_0, got '", quantize, "'");
  RS_CHECK(!device.is_cuda(), ValueError, "quantize",
           "q8_0 runs on the CPU; on a GPU the bf16 weights run on the tensor cores (drop the quantization)");
}

QuantizeReport apply_quantize(const std::string& quantize, nn::Module& model, Device device) {
  check_quantize(quantize, device);
  nn::check_q8_on_cpu(model, device, "quantize");  // a decoder stored as q8_0 cannot run there either
  QuantizeReport r;
  if (quantize == "none" || quantize.empty()) return r;
  for (const auto& [name, m] : model.named_modules())
    if (const auto* lin = dynamic_cast<const nn::Linear*>(m); lin && lin->weight.defined() && !lin->weight.requires_grad())
      r.bytes_before += lin->weight.numel() * int64_t(lin->weight.element_size());
  r.layers = nn::quantize_linears_q8(model);
  for (const auto& [name, m] : model.named_modules())
    if (const auto* lin = dynamic_cast<const nn::Linear*>(m); lin && lin->is_quantized())
      r.bytes_after += lin->q8_weight().codes.numel() + lin->q8_weight().scales.numel() * 4;
  return r;
}

models::RsCapRetBundle load_model(const std::filesystem::path& dir, Device device, const std::string& quantize,
                                  QuantizeReport* report) {
  check_quantize(quantize, device);
  models::RsCapRetBundle b = models::load_rscapret_dir(dir);
  b.model->to(device);
  const QuantizeReport r = apply_quantize(quantize, b.model->llm(), device);
  if (report) *report = r;
  return b;
}

}  // namespace rscapret::api
