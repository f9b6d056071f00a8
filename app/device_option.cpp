#include "app/device_option.h"

#include "kernels/cpu/gemm.h"
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
         "with AVX-512 BF16 dot products where the CPU has them (faster GEMMs, with bf16 or f32 weights; "
         "results at bf16 precision). The GPU multiplies bf16 weights in bf16 either way")
      ->check(CLI::IsMember({"f32", "bf16"}));
}

}  // namespace rscapret::app
