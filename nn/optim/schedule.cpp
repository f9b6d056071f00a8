#include "nn/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace rscapret::nn {

double Schedule::factor(int64_t step) const {
  RS_CHECK(step >= 0, ValueError, "schedule", "step must be non-negative, got ", step);
  RS_CHECK(warmup_steps >= 0 && min_factor >= 0 && min_factor <= 1 && gamma > 0, ValueError, "schedule",
           "invalid schedule: warmup_steps ", warmup_steps, ", min_factor ", min_factor, ", gamma ", gamma);
  if (step < warmup_steps) return double(step + 1) / double(warmup_steps);
  const int64_t after = step - warmup_steps;
  switch (kind) {
    case Kind::constant:
      return 1.0;
    case Kind::cosine: {
      const int64_t span = std::max<int64_t>(total_steps - warmup_steps, 1);
      const double progress = std::min(1.0, double(after) / double(span));
      return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + std::cos(M_PI * progress));
    }
    case Kind::step:
      return std::pow(gamma, double(after / std::max<int64_t>(step_every, 1)));
  }
  return 1.0;
}

}  // namespace rscapret::nn
