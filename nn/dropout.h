// Dropout, deterministic: the mask of call n depends only on (seed, n), so a training step run
// twice, or resumed from a checkpoint that saved the counter, drops the same elements.
#pragma once

#include <optional>

#include "nn/module.h"

namespace rscapret::nn {

// Zeroes each element with probability p and scales the rest by 1 / (1 - p), drawing the mask from
// gen (which advances). p = 1 gives zeros.
Tensor dropout(const Tensor& x, double p, Generator& gen);

class Dropout : public Module {
 public:
  // No seed: one is drawn from default_generator(), so construction order fixes it.
  explicit Dropout(double p, std::optional<uint64_t> seed = std::nullopt);

  // Identity in eval mode or when p is 0; otherwise a fresh mask per call.
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  double p() const { return p_; }
  uint64_t seed() const { return seed_; }
  uint64_t counter() const { return counter_; }         // masks drawn so far
  void set_counter(uint64_t n) { counter_ = n; }        // resume

 private:
  double p_;
  uint64_t seed_;
  uint64_t counter_ = 0;
};

}  // namespace rscapret::nn
