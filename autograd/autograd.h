// Reverse-mode autograd. Ops record a node when grad mode is on and an input requires a gradient;
// backward() walks the recorded graph once, in reverse topological order, accumulating (+=) into
// leaf .grad. Frozen tensors (requires_grad false) get no buffer, but gradients still flow through
// the ops that use them into their other inputs. Saved tensors and cotangents are released as
// soon as their node has run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace rscapret::autograd {

bool is_grad_enabled();

// Disables recording in its scope (inference, optimizer updates, the backward pass itself).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Backpropagates from root: a single-element root gets cotangent 1, any other root needs one of
// its shape. Leaves that require grad accumulate into .grad. The graph is freed unless retained.
void backward(const Tensor& root, const Tensor& cotangent = Tensor(), bool retain_graph = false);

// d(root)/d(inputs) contracted with the cotangent, returned instead of accumulated (inputs must
// require grad; an input the root does not depend on gets zeros).
std::vector<Tensor> grad(const Tensor& root, const std::vector<Tensor>& inputs, const Tensor& cotangent = Tensor(),
                         bool retain_graph = false);

// ---- for op implementations ----

// The vector-Jacobian product of one op: the cotangent of its output -> one cotangent per input
// (undefined where the input needs none).
using VjpFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string op;                                   // for errors and debugging
  std::vector<std::shared_ptr<AutogradMeta>> inputs;  // null for inputs that need no gradient
  std::vector<Shape> input_shapes;
  VjpFn vjp;                                        // reset after it runs (frees saved tensors)
};

// True when grad mode is on and some input requires a gradient.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
// Marks `output` as produced by op from inputs, with its vjp. Returns output for chaining.
Tensor record(const char* op, Tensor output, std::initializer_list<const Tensor*> inputs, VjpFn vjp);
Tensor record(const char* op, Tensor output, const std::vector<Tensor>& inputs, VjpFn vjp);

}  // namespace rscapret::autograd
