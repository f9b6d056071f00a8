// The autograd engine: recording (needs_grad/record) and the reverse pass (backward/grad).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "autograd/autograd.h"
#include "autograd/ops.h"

namespace rscapret::autograd {

namespace {
thread_local bool g_grad_enabled = true;

// RSCAPRET_PROFILE_BACKWARD=1: time spent in each op's vjp, printed at exit (the "which backward
// is slow" question answered without a profiler).
struct VjpProfile {
  std::mutex mu;
  std::map<std::string, std::pair<int64_t, double>> by_op;  // op -> (calls, ms)
  ~VjpProfile() {
    if (by_op.empty()) return;
    std::fprintf(stderr, "vjp profile (op, calls, total ms):\n");
    for (const auto& [op, v] : by_op) std::fprintf(stderr, "  %-16s %8lld %10.2f\n", op.c_str(), (long long)v.first, v.second);
  }
};
VjpProfile* vjp_profile() {
  static VjpProfile* p = std::getenv("RSCAPRET_PROFILE_BACKWARD") ? new VjpProfile() : nullptr;
  return p;
}
struct ProfileAtExit {
  ~ProfileAtExit() { delete vjp_profile(); }
} g_profile_at_exit;

// Nodes reachable from root, ordered so that every node comes before the nodes it consumes
// (reverse topological order of the forward pass). Iterative DFS: graphs can be deep.
std::vector<Node*> reverse_topological(Node* root) {
  std::vector<Node*> post;
  std::unordered_set<Node*> seen{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const auto& meta = node->inputs[next++];
      Node* child = meta && meta->grad_fn ? meta->grad_fn.get() : nullptr;
      if (child && seen.insert(child).second) stack.push_back({child, 0});
      continue;
    }
    post.push_back(node);
    stack.pop_back();
  }
  std::reverse(post.begin(), post.end());
  return post;
}

Tensor accumulate(const Tensor& acc, const Tensor& g) { return acc.defined() ? ops::add(acc, g) : g; }

Tensor seed_cotangent(const Tensor& root, const Tensor& cotangent) {
  if (cotangent.defined()) {
    RS_CHECK(cotangent.shape() == root.shape(), ShapeError, "backward", "cotangent ", format_shape(cotangent.shape()),
             " for output ", format_shape(root.shape()));
    return cotangent;
  }
  RS_CHECK(root.numel() == 1, ShapeError, "backward", "a non-scalar output ", format_shape(root.shape()),
           " needs an explicit cotangent");
  // On the root's device: a CPU seed would meet the root's device tensors in the first VJP.
  return Tensor::full(root.shape(), 1.0, root.dtype() == DType::f64 ? DType::f64 : DType::f32, root.device());
}

// Runs the reverse pass; leaf cotangents go to on_leaf(meta, grad).
template <typename LeafFn>
void run_backward(const Tensor& root, const Tensor& cotangent, bool retain_graph, LeafFn&& on_leaf) {
  RS_CHECK(root.requires_grad(), ValueError, "backward", "the output does not require grad (no input requires grad, or "
           "it was computed under NoGradGuard)");
  NoGradGuard no_grad;  // the backward pass itself is not recorded (first-order autograd)
  const Tensor seed = seed_cotangent(root, cotangent);
  const auto& root_meta = root.autograd_meta();
  if (!root_meta->grad_fn) {  // the root is itself a leaf
    on_leaf(root_meta, seed);
    return;
  }
  std::unordered_map<Node*, Tensor> pending;
  pending[root_meta->grad_fn.get()] = seed;
  for (Node* node : reverse_topological(root_meta->grad_fn.get())) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;  // nothing flowed into this node
    const Tensor g = std::move(it->second);
    pending.erase(it);  // the cotangent is freed as soon as its node has consumed it
    RS_CHECK(node->vjp != nullptr, ValueError, "backward", "the graph through '", node->op,
             "' was already freed by an earlier backward (pass retain_graph = true to keep it)");
    VjpProfile* prof = vjp_profile();
    const auto t0 = prof ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    std::vector<Tensor> grads = node->vjp(g);
    if (prof) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard<std::mutex> lock(prof->mu);
      auto& e = prof->by_op[node->op];
      ++e.first;
      e.second += ms;
    }
    if (!retain_graph) node->vjp = nullptr;  // frees the tensors this node saved
    RS_ASSERT(grads.size() == node->inputs.size(), "vjp of ", node->op, " returned ", grads.size(), " gradients");
    for (size_t i = 0; i < grads.size(); ++i) {
      const auto& meta = node->inputs[i];
      if (!meta || !grads[i].defined()) continue;
      RS_ASSERT(grads[i].shape() == node->input_shapes[i], "vjp of ", node->op, " gave gradient ",
                format_shape(grads[i].shape()), " for input ", format_shape(node->input_shapes[i]));
      if (meta->grad_fn) pending[meta->grad_fn.get()] = accumulate(pending[meta->grad_fn.get()], grads[i]);
      else on_leaf(meta, grads[i]);
    }
  }
}

}  // namespace

bool is_grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

Tensor record(const char* op, Tensor output, const std::vector<Tensor>& inputs, VjpFn vjp) {
  auto node = std::make_shared<Node>();
  node->op = op;
  for (const Tensor& t : inputs) {
    node->inputs.push_back(t.defined() && t.requires_grad() ? t.autograd_meta() : nullptr);
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  node->vjp = std::move(vjp);
  auto meta = std::make_shared<AutogradMeta>();
  meta->grad_fn = std::move(node);
  output.set_autograd_meta(std::move(meta));
  return output;
}

Tensor record(const char* op, Tensor output, std::initializer_list<const Tensor*> inputs, VjpFn vjp) {
  std::vector<Tensor> in;
  for (const Tensor* t : inputs) in.push_back(*t);
  return record(op, std::move(output), in, std::move(vjp));
}

void backward(const Tensor& root, const Tensor& cotangent, bool retain_graph) {
  run_backward(root, cotangent, retain_graph, [](const std::shared_ptr<AutogradMeta>& meta, const Tensor& g) {
    if (!meta->requires_grad) return;
    meta->grad = meta->grad.defined() ? ops::add(meta->grad, g) : g.contiguous();
  });
}

std::vector<Tensor> grad(const Tensor& root, const std::vector<Tensor>& inputs, const Tensor& cotangent,
                         bool retain_graph) {
  std::unordered_map<AutogradMeta*, Tensor> found;
  for (const Tensor& x : inputs)
    RS_CHECK(x.requires_grad() && x.is_leaf(), ValueError, "grad", "inputs must be leaves that require grad, got ",
             x.describe());
  run_backward(root, cotangent, retain_graph, [&](const std::shared_ptr<AutogradMeta>& meta, const Tensor& g) {
    Tensor& slot = found[meta.get()];
    slot = accumulate(slot, g);
  });
  std::vector<Tensor> out;
  for (const Tensor& x : inputs) {
    auto it = found.find(x.autograd_meta().get());
    out.push_back(it != found.end() ? it->second : Tensor::zeros(x.shape(), x.dtype() == DType::f64 ? DType::f64 : DType::f32));
  }
  return out;
}

}  // namespace rscapret::autograd
