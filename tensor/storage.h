// Refcounted bytes on one device. Host allocations are 64-byte aligned (one cache line, one
// AVX-512 vector). Storage can also wrap memory it does not own (an mmapped checkpoint): the
// owner handle keeps the mapping alive for as long as any tensor views it.
#pragma once

#include <cstddef>
#include <memory>

#include "tensor/device.h"

namespace rscapret {

class Storage {
 public:
  static constexpr size_t kAlignment = 64;

  // Uninitialised bytes; throws ValueError on absurd sizes and Error when out of memory.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::cpu());
  // Zero-copy view of external memory; `owner` is released when the last tensor lets go.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, Device device,
                                       std::shared_ptr<void> owner, bool read_only = false);

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // Memory-mapped checkpoints are read-only: writes through them are refused by ops.
  bool read_only() const { return read_only_; }

 private:
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner, bool read_only)
      : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)), read_only_(read_only) {}
  void* data_;
  size_t nbytes_;
  Device device_;
  std::shared_ptr<void> owner_;
  bool read_only_;
};

}  // namespace rscapret
