// The op registry: every op the framework computes, with the kernels it has. Tests and benchmarks
// enumerate it (a coverage test fails when an op has no test); the autograd issue adds each op's
// vjp to the same entry, next to its forward.
#pragma once

#include <string>
#include <vector>

namespace rscapret::ops {

struct OpInfo {
  std::string name;    // "add", "layer_norm", ...
  std::string family;  // "elementwise", "reduce", "norm", "index", "matmul", "loss", "attention"
  bool has_reference;  // scalar kernel in kernels/cpu/ref (also runs float64)
  bool has_simd;       // Highway / OpenBLAS kernel in kernels/cpu
  bool has_cuda;       // kernel in kernels/cuda
  bool differentiable = true;  // false: bool/int outputs, or derivative kernels (first order only)
  // Views move no data: they have no SIMD kernel and are tested by their gradients.
  bool is_view() const { return family == "view"; }
};

const std::vector<OpInfo>& op_registry();
const OpInfo* find_op(const std::string& name);  // null when unknown

// Each ops/*.cpp file appends its entries (called once by op_registry()).
void register_elementwise_ops(std::vector<OpInfo>& out);
void register_reduce_ops(std::vector<OpInfo>& out);
void register_norm_ops(std::vector<OpInfo>& out);
void register_index_ops(std::vector<OpInfo>& out);
void register_matmul_ops(std::vector<OpInfo>& out);
void register_quant_ops(std::vector<OpInfo>& out);
void register_loss_ops(std::vector<OpInfo>& out);
void register_attention_ops(std::vector<OpInfo>& out);
void register_view_ops(std::vector<OpInfo>& out);

}  // namespace rscapret::ops
