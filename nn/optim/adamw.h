// AdamW exactly as PyTorch's torch.optim.AdamW (decoupled weight decay, bias correction, eps
// after the square root), with parameter groups, a learning-rate factor per step (schedules),
// and state save/load by parameter name so that a resumed run continues bit for bit.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "tensor/tensor.h"

namespace rscapret::nn {

struct AdamWOptions {
  double lr = 3e-4;  // FROMAGe's defaults
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

struct ParamGroup {
  std::vector<std::pair<std::string, Tensor>> params;  // (name, leaf tensor); names must be unique
  AdamWOptions options;
};

class AdamW {
 public:
  explicit AdamW(std::vector<ParamGroup> groups);

  // One update of every parameter that has a gradient; lr = group lr * lr_factor. Runs without
  // recording. Parameters without a gradient are skipped (their step count does not advance).
  void step(double lr_factor = 1.0);
  // The same with one factor per group (a schedule per group), in group order.
  void step(std::span<const double> group_lr_factors);
  void zero_grad();

  int64_t steps_taken() const { return steps_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // "exp_avg.NAME", "exp_avg_sq.NAME" tensors and "step.NAME" (i64 scalar), plus "step". The
  // moment tensors are the optimizer's own (not copies): save them, do not write to them.
  std::map<std::string, Tensor> state() const;
  // Validates names, shapes and dtypes against this optimizer's parameters; clear errors.
  void load_state(const std::map<std::string, Tensor>& state);
  // Atomic safetensors file; metadata "optimizer" = "adamw" and "groups" = the hyper-parameters
  // of each group (JSON), for the record: load checks the former, and the groups' options stay
  // those this optimizer was built with (as configured by the caller).
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  void update(const std::string& name, const Tensor& p, const AdamWOptions& o, double lr_factor);
  void flush_cuda();  // launches the queued CUDA updates (one fused multi-tensor kernel)

  struct Slot {
    Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
  };
  std::vector<ParamGroup> groups_;
  std::map<std::string, Slot> slots_;
  int64_t steps_ = 0;
  // CUDA parameters queued by update() for one multi-tensor launch.
  std::vector<kernels::cuda::AdamWTensor> pending_;
  std::vector<Tensor> pending_grads_;
  kernels::AdamWStep pending_step_{};
  int pending_device_ = -1;
};

}  // namespace rscapret::nn
