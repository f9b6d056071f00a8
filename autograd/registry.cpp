#include "autograd/registry.h"

#include <set>

#include "tensor/error.h"

namespace rscapret::ops {

namespace {
std::vector<OpInfo> build() {
  std::vector<OpInfo> ops;
  register_elementwise_ops(ops);
  register_reduce_ops(ops);
  register_norm_ops(ops);
  register_index_ops(ops);
  register_matmul_ops(ops);
  register_quant_ops(ops);
  register_loss_ops(ops);
  register_attention_ops(ops);
  register_view_ops(ops);
  std::set<std::string> seen;
  for (const auto& op : ops) RS_ASSERT(seen.insert(op.name).second, "op registered twice: ", op.name);
  return ops;
}
}  // namespace

const std::vector<OpInfo>& op_registry() {
  static const std::vector<OpInfo> ops = build();
  return ops;
}

const OpInfo* find_op(const std::string& name) {
  for (const auto& op : op_registry())
    if (op.name == name) return &op;
  return nullptr;
}

}  // namespace rscapret::ops
