// `--device cpu|cuda[:N]`, the same option on every command that runs a model, and
// `--matmul-precision f32|bf16` and `--quantize none|q8_0` on those that run frozen weights
// (inference, bridge training).
#pragma once

#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "models/rscapret/bundle.h"
#include "nn/module.h"
#include "tensor/device.h"

namespace rscapret::app {

// Adds --device (default cpu) to cmd; `what` completes "where the model ...".
void add_device_option(CLI::App* cmd, std::string& device, const char* what = "runs");

// The device --device names. A CUDA device this machine (or build) lacks is refused here with a
// clear error, before a model is loaded.
Device parse_device_option(const std::string& device);

// Adds --matmul-precision: f32 (default), bf16, which lets CPU GEMMs round activations to bf16
// and multiply with AVX-512 BF16 dot products, or int8, which lets decoding with q8_0 weights
// quantize its activations and multiply with AVX-512 VNNI (kernels::MatmulPrecision). Set when parsed.
void add_matmul_precision_option(CLI::App* cmd);

// Adds --quantize: none (default) or q8_0, which stores the frozen decoder's Linear weights as
// q8_0 (kernels/cpu/quant_q8.h): about half the memory of bf16 and faster decoding on the CPU.
void add_quantize_option(CLI::App* cmd, std::string& quantize);
// Refuses --quantize q8_0 with a CUDA --device (q8_0 is the CPU's format); called right after the
// device is parsed, before a model is loaded.
void check_quantize_option(const std::string& quantize, Device device);
// Applies --quantize to a loaded model already placed on `device` (a no-op for none) and says on
// stderr what it did. On a CUDA device a model that came quantized (`rscapret quantize`) is refused.
void apply_quantize_option(const std::string& quantize, nn::Module& model, Device device);
// A model folder loaded onto `device` with --quantize applied (api::load_model), saying on stderr
// what the quantization did.
models::RsCapRetBundle load_model_option(const std::filesystem::path& dir, Device device, const std::string& quantize);

}  // namespace rscapret::app
