// `--device cpu|cuda[:N]`, the same option on every command that runs a model.
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

}  // namespace rscapret::app
