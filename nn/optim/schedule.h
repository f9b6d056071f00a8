// Learning-rate schedules: a factor of the base lr as a pure function of the step (0-based), so
// a resumed run gets the same factors.
#pragma once

#include <cstdint>

namespace rscapret::nn {

struct Schedule {
  enum class Kind : uint8_t { constant, cosine, step };
  Kind kind = Kind::constant;
  // Linear warmup: factor (step + 1) / warmup_steps, so step 0 already moves the weights and
  // the last warmup step (warmup_steps - 1) is at 1.
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;    // cosine: the step at which the factor reaches min_factor
  double min_factor = 0.0;    // cosine floor
  int64_t step_every = 1000;  // step decay: multiply by gamma every step_every steps after warmup
  double gamma = 0.1;

  // Factor at `step`; one Schedule per group gives per-group factors for AdamW::step(span).
  double factor(int64_t step) const;
};

}  // namespace rscapret::nn
