// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace rscapret::nn {

// The L2 norm of all gradients together. Host gradients are summed in double, in the given order
// (the same bits every run); device gradients are reduced on their device in f32 (the device's
// deterministic sum kernel) and read back once. Parameters without a gradient are skipped.
double grad_norm(const std::vector<Tensor>& params);

// Scales every gradient by max_norm / (norm + 1e-6) when that is below 1 (PyTorch's clamp).
// Returns the norm before clipping; a NaN or infinite norm is returned as is and nothing is
// scaled, so the caller can skip the step: a finite norm means every gradient is finite (before
// and after scaling), so the returned norm is the only check a training step needs.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

namespace detail {
// The sum of squares of all the tensors (one device), computed with ops where the tensors live and
// read back once: the device path of grad_norm, testable on the host.
double sum_of_squares_by_ops(const std::vector<Tensor>& ts);
}  // namespace detail

}  // namespace rscapret::nn
