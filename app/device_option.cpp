#include "app/device_option.h"

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

}  // namespace rscapret::app
