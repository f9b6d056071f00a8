#include "nn/optim/adamw.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "autograd/autograd.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tensor/safetensors.h"

namespace rscapret::nn {

AdamW::AdamW(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  std::set<std::string> names;
  for (const auto& group : groups_) {
    const AdamWOptions& o = group.options;
    RS_CHECK(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 &&
                 o.beta2 < 1,
             ValueError, "adamw", "invalid options: lr ", o.lr, ", betas (", o.beta1, ", ", o.beta2, "), eps ", o.eps,
             ", weight_decay ", o.weight_decay);
    for (const auto& [name, p] : group.params) {
      RS_CHECK(names.insert(name).second, ValueError, "adamw", "parameter '", name, "' appears twice");
      RS_CHECK(p.defined() && p.is_leaf(), ValueError, "adamw", "parameter '", name, "' must be a leaf tensor");
      RS_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, DTypeError, "adamw", "parameter '", name,
               "' must be f32 or f64 to be trained, got ", p.describe());
      RS_CHECK(p.is_contiguous(), ValueError, "adamw", "parameter '", name, "' must be dense, got ", p.describe());
      RS_CHECK(p.device().is_cpu() || p.dtype() == DType::f32, DTypeError, "adamw", "parameter '", name,
               "': CUDA parameters are trained in f32, got ", p.describe());
      RS_CHECK(!p.storage()->read_only(), ValueError, "adamw", "parameter '", name,
               "' is read-only (memory-mapped weights): copy it before training it");
      slots_[name] = Slot{Tensor::zeros(p.shape(), p.dtype(), p.device()),
                          Tensor::zeros(p.shape(), p.dtype(), p.device()), 0};
    }
  }
}

namespace {
bool same_step(const kernels::AdamWStep& a, const kernels::AdamWStep& b) {
  return a.lr == b.lr && a.beta1 == b.beta1 && a.beta2 == b.beta2 && a.eps == b.eps &&
         a.weight_decay == b.weight_decay && a.bias_correction1 == b.bias_correction1 &&
         a.bias_correction2 == b.bias_correction2;
}
}  // namespace

void AdamW::update(const std::string& name, const Tensor& p, const AdamWOptions& o, double lr_factor) {
  const Tensor g = p.grad();
  if (!g.defined()) return;  // as PyTorch: no gradient, no step (its step count stays)
  RS_CHECK(g.shape() == p.shape(), ShapeError, "adamw", "gradient of '", name, "' has shape ",
           format_shape(g.shape()), ", parameter ", format_shape(p.shape()));
  Slot& s = slots_.at(name);
  ++s.step;
  const kernels::AdamWStep k{o.lr * lr_factor, o.beta1, o.beta2, o.eps, o.weight_decay,
                             1.0 - std::pow(o.beta1, double(s.step)), 1.0 - std::pow(o.beta2, double(s.step))};
  RS_CHECK(g.device() == p.device(), DeviceError, "adamw", "gradient of '", name, "' is on ", g.device().str(),
           ", parameter on ", p.device().str());
  const Tensor gc = g.to(p.dtype()).contiguous();  // no copy for the usual dense grad of p's dtype
  if (p.device().is_cuda()) {
    // Queued: consecutive CUDA parameters with the same hyper-parameters go in one launch.
    if (pending_.empty() || pending_device_ != p.device().index || !same_step(pending_step_, k)) {
      flush_cuda();
      pending_device_ = p.device().index;
      pending_step_ = k;
    }
    pending_grads_.push_back(gc);  // keeps a converted gradient alive until the launch
    pending_.push_back({p.data<float>(), gc.data<float>(), s.exp_avg.data<float>(), s.exp_avg_sq.data<float>(),
                        p.numel()});
    return;
  }
  if (p.dtype() == DType::f64)  // f64 is for tests and checks: the scalar reference is enough
    kernels::ref::adamw_update<double>(p.data<double>(), gc.data<double>(), s.exp_avg.data<double>(),
                                       s.exp_avg_sq.data<double>(), p.numel(), k);
  else
    kernels::simd::adamw_update(p.data<float>(), gc.data<float>(), s.exp_avg.data<float>(),
                                s.exp_avg_sq.data<float>(), p.numel(), k);
}

void AdamW::flush_cuda() {
  if (!pending_.empty())
    kernels::cuda::adamw_update(pending_.data(), int(pending_.size()), pending_step_, pending_device_);
  pending_.clear();
  pending_grads_.clear();  // safe: the stream orders the launch before any reuse of their memory
}

void AdamW::step(double lr_factor) {
  const std::vector<double> factors(groups_.size(), lr_factor);
  step(factors);
}

void AdamW::step(std::span<const double> group_lr_factors) {
  RS_CHECK(group_lr_factors.size() == groups_.size(), ValueError, "adamw", group_lr_factors.size(),
           " lr factors for ", groups_.size(), " groups");
  for (double f : group_lr_factors)
    RS_CHECK(std::isfinite(f) && f >= 0, ValueError, "adamw", "lr factor must be finite and >= 0, got ", f);
  // Parameter storage is written in place: nothing here may be recorded.
  autograd::NoGradGuard no_grad;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (const auto& [name, p] : groups_[gi].params) update(name, p, groups_[gi].options, group_lr_factors[gi]);
  flush_cuda();
  ++steps_;
}

void AdamW::zero_grad() {
  for (auto& group : groups_)
    for (auto& [name, p] : group.params) p.set_grad(Tensor());
}

std::map<std::string, Tensor> AdamW::state() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, s] : slots_) {
    out["exp_avg." + name] = s.exp_avg;
    out["exp_avg_sq." + name] = s.exp_avg_sq;
    out["step." + name] = Tensor::scalar(double(s.step), DType::i64);
  }
  out["step"] = Tensor::scalar(double(steps_), DType::i64);
  return out;
}

namespace {
// The smallest entry of a dense CPU f32/f64 tensor, and whether any entry is NaN.
std::pair<double, bool> min_and_nan(const Tensor& t) {
  double lo = 0;
  bool nan = false;
  auto scan = [&](const auto* x) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      nan |= std::isnan(x[i]);
      lo = std::min<double>(lo, x[i]);
    }
  };
  if (t.dtype() == DType::f64)
    scan(t.data<double>());
  else
    scan(t.data<float>());
  return {lo, nan};
}
}  // namespace

void AdamW::load_state(const std::map<std::string, Tensor>& state) {
  auto get = [&](const std::string& key, const Shape& shape, DType dtype) -> const Tensor& {
    auto it = state.find(key);
    RS_CHECK(it != state.end(), FormatError, "adamw", "optimizer state has no '", key, "'");
    RS_CHECK(it->second.shape() == shape && it->second.dtype() == dtype, FormatError, "adamw", "state '", key, "' is ",
             it->second.describe(), ", expected ", dtype_name(dtype), format_shape(shape));
    return it->second;
  };
  const size_t expected = slots_.size() * 3 + 1;
  RS_CHECK(state.size() == expected, FormatError, "adamw", "optimizer state has ", state.size(), " entries, expected ",
           expected, " (different parameters?)");
  std::map<std::string, Slot> loaded;
  for (const auto& [name, s] : slots_) {
    Slot n;
    // Own dense host copies: the source may be a read-only mapping or a strided view.
    n.exp_avg = get("exp_avg." + name, s.exp_avg.shape(), s.exp_avg.dtype()).to(Device::cpu()).clone();
    n.exp_avg_sq = get("exp_avg_sq." + name, s.exp_avg_sq.shape(), s.exp_avg_sq.dtype()).to(Device::cpu()).clone();
    n.step = int64_t(get("step." + name, {}, DType::i64).item());
    RS_CHECK(n.step >= 0, FormatError, "adamw", "state 'step.", name, "' is negative: ", n.step);
    // A second moment is a running mean of squares: a negative or NaN entry means a damaged file
    // (and would turn the parameter into NaN at the next step).
    const auto [lo, bad] = min_and_nan(n.exp_avg_sq);
    RS_CHECK(!bad && lo >= 0, FormatError, "adamw", "state 'exp_avg_sq.", name, "' has ",
             bad ? "NaN" : "negative", " entries: damaged optimizer state");
    // The moments live where the parameter lives.
    n.exp_avg = n.exp_avg.to(s.exp_avg.device());
    n.exp_avg_sq = n.exp_avg_sq.to(s.exp_avg_sq.device());
    loaded[name] = n;
  }
  const int64_t steps = int64_t(get("step", {}, DType::i64).item());
  RS_CHECK(steps >= 0, FormatError, "adamw", "state 'step' is negative: ", steps);
  steps_ = steps;
  slots_ = std::move(loaded);  // only after everything validated: a bad file changes nothing
}

void AdamW::save(const std::string& path) const {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : groups_)
    groups.push_back({{"lr", g.options.lr}, {"beta1", g.options.beta1}, {"beta2", g.options.beta2},
                      {"eps", g.options.eps}, {"weight_decay", g.options.weight_decay}, {"params", g.params.size()}});
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [k, t] : state()) tensors.push_back({k, t});
  save_safetensors(path, tensors, {{"optimizer", "adamw"}, {"groups", groups.dump()}});
}

void AdamW::load(const std::string& path) {
  const SafetensorsFile file(path);  // validates the header; FormatError on a corrupt file
  const auto& meta = file.metadata();
  const auto it = meta.find("optimizer");
  RS_CHECK(it != meta.end() && it->second == "adamw", FormatError, "adamw", path,
           " is not an AdamW state (metadata \"optimizer\" is ", it == meta.end() ? "absent" : it->second, ")");
  std::map<std::string, Tensor> state;
  for (const auto& name : file.names()) state[name] = file.get(name);
  load_state(state);  // copies out of the mapping
}

}  // namespace rscapret::nn
