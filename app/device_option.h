// `--device cpu|cuda[:N]`, the same option on every command that runs a model, and
// `--matmul-precision f32|bf16` on those that run frozen weights (inference, bridge training).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "tensor/device.h"

namespace rscapret::app {

// Adds --device (default cpu) to cmd; `what` completes "where the model ...".
void add_device_option(CLI::App* cmd, std::string& device, const char* what = "runs");

// The device --device names. A CUDA device this machine (or build) lacks is refused here with a
// clear error, before a model is loaded.
Device parse_device_option(const std::string& device);

// Adds --matmul-precision: f32 (default) or bf16, which lets CPU GEMMs round activations to bf16
// and multiply with AVX-512 BF16 dot products (kernels::MatmulPrecision). Set when parsed.
void add_matmul_precision_option(CLI::App* cmd);

}  // namespace rscapret::app
