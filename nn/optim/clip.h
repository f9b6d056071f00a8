// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace rscapret::nn {

// The L2 norm of all gradients together (computed in double, in the given order, so it is the
// same bits every run). Parameters without a gradient are skipped.
double grad_norm(const std::vector<Tensor>& params);

// Scales every gradient by max_norm / (norm + 1e-6) when that is below 1 (PyTorch's clamp).
// Returns the norm before clipping; a NaN or infinite norm is returned as is and nothing is
// scaled, so the caller can skip the step (see grads_finite).
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// False when some gradient holds a NaN or an infinity (or, for f64 grads near 1e154, when the
// sum of squares overflows double).
bool grads_finite(const std::vector<Tensor>& params);

}  // namespace rscapret::nn
