// Where a tensor's bytes live: the host, or CUDA device N.
#pragma once

#include <string>
#include <string_view>

namespace rscapret {

struct Device {
  enum class Kind : unsigned char { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {Kind::cuda, i}; }
  // "cpu", "cuda", "cuda:1"; throws DeviceError on anything else.
  static Device parse(std::string_view s);

  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  std::string str() const;
  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace rscapret
