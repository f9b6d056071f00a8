// Counter-based randomness for the synthetic world: every image draws from its own splitmix64 stream
// keyed by (seed, image index, purpose), so image i depends only on (seed, i) and never on which
// thread made it or in which order. Own code instead of <random>: std:: distributions are
// implementation-defined, and the pinned test hash must not change with the standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace rscapret::synth {

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Hash of a few integers, used for lattice noise and stream keys.
inline uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) {
  return mix64(mix64(mix64(a + 0x9E3779B97F4A7C15ull) ^ b) + c);
}

class Rng {
 public:
  Rng(uint64_t seed, uint64_t index, uint64_t stream) : state_(hash3(seed, index, stream)) {}
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    return mix64(state_);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  float uniform(float lo, float hi) { return lo + static_cast<float>(uniform()) * (hi - lo); }
  // Uniform integer in [lo, hi] (inclusive).
  int randint(int lo, int hi) {
    return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool chance(double p) { return uniform() < p; }
  // Approximately normal (sum of uniforms), deterministic everywhere.
  float normal(float mean, float sd) {
    double s = 0;
    for (int i = 0; i < 4; ++i) s += uniform();
    return mean + sd * static_cast<float>((s - 2.0) * 1.7320508);
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[next() % v.size()]; }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[next() % i]);
  }

 private:
  uint64_t state_;
};

}  // namespace rscapret::synth
