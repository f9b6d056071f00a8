// Helpers for the CUDA tests: skip without a device, device buffers with canary guards, the
// relative-error measure, random inputs. Host code only (no CUDA headers), so the tests compile
// in every build and skip with a message where there is no GPU.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/device_backend.h"

#define RS_REQUIRE_CUDA()                                                                              \
  do {                                                                                                 \
    if (!::rscapret::cuda_runtime::available())                                                        \
      GTEST_SKIP() << "no CUDA device here (or this build has no CUDA backend): CUDA test skipped";   \
  } while (0)

namespace rscapret::testing {

// A device buffer of n elements with kGuard guard elements on both sides. The guards hold a
// byte pattern; guards_intact() reports whether a kernel wrote outside [0, n). poison() fills
// the payload with 0xFF bytes (NaN for floats) so that an element the kernel never writes shows.
template <typename T>
class DeviceBuffer {
 public:
  static constexpr int64_t kGuard = 64;
  static constexpr unsigned char kCanary = 0xA5;

  explicit DeviceBuffer(int64_t n, int device = 0) : n_(n), device_(device) {
    base_ = static_cast<T*>(cuda_runtime::allocate(bytes(n_ + 2 * kGuard), device_));
    std::vector<unsigned char> guard(bytes(kGuard), kCanary);
    cuda_runtime::copy_host_to_device(base_, guard.data(), guard.size(), device_);
    cuda_runtime::copy_host_to_device(base_ + kGuard + n_, guard.data(), guard.size(), device_);
    poison();
  }
  explicit DeviceBuffer(const std::vector<T>& host, int device = 0) : DeviceBuffer(int64_t(host.size()), device) {
    upload(host);
  }
  ~DeviceBuffer() { cuda_runtime::release(base_, device_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() { return base_ + kGuard; }
  const T* get() const { return base_ + kGuard; }
  int64_t size() const { return n_; }

  void upload(const std::vector<T>& host) {
    EXPECT_EQ(int64_t(host.size()), n_);
    if (n_) cuda_runtime::copy_host_to_device(get(), host.data(), bytes(n_), device_);
  }
  void poison() {
    std::vector<unsigned char> p(bytes(n_), 0xFF);
    if (n_) cuda_runtime::copy_host_to_device(get(), p.data(), p.size(), device_);
  }
  // Synchronises the device first, so kernel faults surface here as DeviceError.
  std::vector<T> download() const {
    cuda_runtime::synchronize(device_);
    std::vector<T> out(static_cast<size_t>(n_));
    if (n_) cuda_runtime::copy_device_to_host(out.data(), get(), bytes(n_), device_);
    return out;
  }
  bool guards_intact() const {
    cuda_runtime::synchronize(device_);
    std::vector<unsigned char> g(bytes(kGuard));
    for (const T* at : {base_, base_ + kGuard + n_}) {
      cuda_runtime::copy_device_to_host(g.data(), at, g.size(), device_);
      for (unsigned char c : g)
        if (c != kCanary) return false;
    }
    return true;
  }

 private:
  static size_t bytes(int64_t n) { return size_t(n) * sizeof(T); }
  T* base_ = nullptr;
  int64_t n_;
  int device_;
};

// ||got - ref|| / ||ref|| (ref in double). Any NaN or inf in got gives +inf, so NaN never passes;
// a zero reference gives the absolute norm of the difference.
template <typename G, typename R>
double rel_err(const std::vector<G>& got, const std::vector<R>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), r = double(ref[i]);
    if (!std::isfinite(g)) return INFINITY;
    num += (g - r) * (g - r);
    den += r * r;
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// max |got - ref| / max |ref| (ref in double; +inf for any NaN or inf in got). Beside rel_err:
// the norm spreads one wrong element over the whole tensor, this does not.
template <typename G, typename R>
double max_rel_err(const std::vector<G>& got, const std::vector<R>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double err = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), r = double(ref[i]);
    if (!std::isfinite(g)) return INFINITY;
    err = std::max(err, std::fabs(g - r));
    scale = std::max(scale, std::fabs(r));
  }
  return scale > 0 ? err / scale : err;
}

// got within tol of ref in the norm (rel_err), and no single element off by more than 10 tol of
// the largest reference magnitude: a correct kernel's worst element sits well inside that; an
// element computed from the wrong tile or left stale does not.
template <typename G, typename R>
::testing::AssertionResult close_norm_and_max(const std::vector<G>& got, const std::vector<R>& ref, double tol) {
  const double norm = rel_err(got, ref), worst = max_rel_err(got, ref);
  if (norm < tol && worst < 10 * tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative error: norm " << norm << " (tol " << tol << "), largest element "
                                       << worst << " (tol " << 10 * tol << ")";
}

inline std::vector<float> random_normal(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<int64_t> random_ids(int64_t n, int64_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, hi - 1);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t& x : v) x = dist(rng);
  return v;
}

// Round-to-nearest-even f32 -> bf16 bits and back, for preparing bf16 inputs and references.
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float from_bf16(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = to_bf16(v[i]);
  return out;
}
inline std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = from_bf16(v[i]);
  return out;
}

}  // namespace rscapret::testing
