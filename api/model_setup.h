// Where a model runs and how its frozen decoder is stored: the checks and steps shared by every CLI
// command that runs a model (app/device_option.h adds the options) and by the C library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "models/rscapret/bundle.h"
#include "nn/module.h"
#include "tensor/device.h"

namespace rscapret::api {

// "cpu", "cuda" or "cuda:N". A CUDA device this machine (or build) lacks is a DeviceError here,
// before a model is loaded; its message starts with `option` (the CLI's "--device").
Device parse_device(const std::string& device, const char* option = "device");

// quantize: "none" (or empty) or "q8_0". ValueError for another name, or q8_0 with a CUDA device
// (q8_0 is the CPU's format; the GPU runs bf16 weights on its tensor cores).
void check_quantize(const std::string& quantize, Device device);

struct QuantizeReport {
  int64_t layers = 0;        // Linear layers quantized now
  int64_t bytes_before = 0;  // their weights' bytes before
  int64_t bytes_after = 0;   // codes and scales after
};
// Applies `quantize` to a model already placed on `device` (nothing for none). A model that came
// quantized (`rscapret quantize`) is refused on a CUDA device.
QuantizeReport apply_quantize(const std::string& quantize, nn::Module& model, Device device);

// A model folder loaded, moved to `device` and its decoder quantized as asked.
models::RsCapRetBundle load_model(const std::filesystem::path& dir, Device device, const std::string& quantize,
                                  QuantizeReport* report = nullptr);

}  // namespace rscapret::api
