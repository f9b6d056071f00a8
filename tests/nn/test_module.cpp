// Module: dotted names, freeze/unfreeze, train/eval, dtype moves, state export and loading.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "nn/nn.h"
#include "tensor/safetensors.h"
#include "tests/nn/nn_test_util.h"

namespace rscapret::testing {
namespace {

using namespace rscapret::nn;

// A small CLIP-like tree: embeddings, a list of encoder layers, a final norm, a position_ids buffer.
struct ToyLayer : Module {
  explicit ToyLayer(const Init& init) : Module("ToyLayer") {
    AttentionConfig c;
    c.hidden_size = 8, c.num_heads = 2, c.out_name = "out_proj";
    self_attn = register_module("self_attn", std::make_shared<Attention>(c, init));
    layer_norm1 = register_module("layer_norm1", std::make_shared<LayerNorm>(8, 1e-5, true, true, init));
    mlp = register_module("mlp", std::make_shared<MLP>(8, 16, Activation::quick_gelu, true, init));
  }
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<LayerNorm> layer_norm1;
  std::shared_ptr<MLP> mlp;
};

struct Toy : Module {
  explicit Toy(const Init& init = {}) : Module("Toy") {
    embed = register_module("embed", std::make_shared<Embedding>(10, 8, init));
    layers = register_module("layers", std::make_shared<ModuleList<ToyLayer>>());
    for (int i = 0; i < 2; ++i) layers->push_back(std::make_shared<ToyLayer>(init));
    post_layernorm = register_module("post_layernorm", std::make_shared<LayerNorm>(8, 1e-5, true, true, init));
    register_buffer("position_ids", &position_ids, Tensor::arange(5), /*persistent=*/false);
  }
  std::shared_ptr<Embedding> embed;
  std::shared_ptr<ModuleList<ToyLayer>> layers;
  std::shared_ptr<LayerNorm> post_layernorm;
  Tensor position_ids;
};

std::vector<std::string> names_of(const NamedTensors& nt) {
  std::vector<std::string> out;
  for (auto& [n, t] : nt) out.push_back(n);
  return out;
}

TEST(NnModule, DottedNamesFollowRegistration) {
  Toy toy;
  const auto names = names_of(toy.named_parameters());
  // 1 embedding + 2 layers x (4 projections x 2 + norm 2 + mlp 4) + final norm 2.
  ASSERT_EQ(names.size(), 1u + 2 * 14 + 2);
  EXPECT_EQ(names[0], "embed.weight");
  EXPECT_EQ(names[1], "layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(names[2], "layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(names[7], "layers.0.self_attn.out_proj.weight");
  EXPECT_EQ(names[11], "layers.0.mlp.fc1.weight");
  EXPECT_EQ(names[15], "layers.1.self_attn.q_proj.weight");
  EXPECT_EQ(names.back(), "post_layernorm.bias");
  EXPECT_EQ(names_of(toy.named_buffers()), std::vector<std::string>{"position_ids"});
  EXPECT_EQ(&toy.submodule("layers.1.mlp.fc2"), toy.layers->operator[](1).mlp->fc2.get());
  const auto mods = toy.named_modules();
  EXPECT_EQ(mods[0].first, "");
  EXPECT_EQ(mods[1].first, "embed");
  EXPECT_EQ(mods[3].first, "layers.0");
  EXPECT_EQ(mods[4].first, "layers.0.self_attn");
  EXPECT_EQ(mods[5].first, "layers.0.self_attn.q_proj");
  EXPECT_EQ(mods.back().first, "post_layernorm");
  EXPECT_TRUE(toy.has_parameter("layers.1.mlp.fc2.bias"));
  EXPECT_FALSE(toy.has_parameter("layers.1.mlp.fc3.bias"));
  EXPECT_FALSE(toy.has_parameter("position_ids"));  // a buffer, not a parameter
  EXPECT_THROW(toy.parameter("layers.7.mlp.fc1.weight"), IndexError);
  EXPECT_EQ(toy.num_parameters(), 10 * 8 + 2 * (4 * (64 + 8) + 16 + (8 * 16 + 16 + 16 * 8 + 8)) + 16);
  // The slot is the member itself: writing through parameter() is seen by the layer.
  EXPECT_EQ(toy.parameter("embed.weight").raw_data(), toy.embed->weight.raw_data());
}

TEST(NnModule, DuplicateOrDottedNamesAreRejected) {
  struct Bad : Module {
    explicit Bad(int which) : Module("Bad") {
      register_parameter("w", &w, {2}, Fill::zeros(), {});
      if (which == 0) register_parameter("w", &w2, {2}, Fill::zeros(), {});
      if (which == 1) register_parameter("a.b", &w2, {2}, Fill::zeros(), {});
      if (which == 2) register_module("w", std::make_shared<Linear>(2, 2));
    }
    Tensor w, w2;
  };
  for (int i = 0; i < 3; ++i) EXPECT_THROW(Bad{i}, ValueError) << i;
}

TEST(NnModule, FreezeUnfreezeIsSeenByEveryHandle) {
  Toy toy;
  const std::vector<Tensor> held = toy.parameters();  // as an optimizer would hold them
  for (const Tensor& t : held) EXPECT_TRUE(t.requires_grad());
  EXPECT_EQ(toy.num_parameters(true), toy.num_parameters());

  toy.layers->operator[](0).freeze();
  EXPECT_FALSE(toy.parameter("layers.0.mlp.fc1.weight").requires_grad());
  EXPECT_FALSE(held[1].requires_grad());  // the same autograd identity
  EXPECT_TRUE(toy.parameter("layers.1.mlp.fc1.weight").requires_grad());
  EXPECT_EQ(toy.num_parameters(true), toy.num_parameters() - toy.layers->operator[](0).num_parameters());
  EXPECT_EQ(toy.trainable_parameters().size(), toy.parameters().size() - 14);

  toy.freeze();
  EXPECT_EQ(toy.num_parameters(true), 0);
  EXPECT_TRUE(toy.trainable_parameters().empty());
  toy.unfreeze();
  for (const Tensor& t : held) EXPECT_TRUE(t.requires_grad());
}

TEST(NnModule, TrainEvalPropagatesAndCanBePinned) {
  // A backbone that stays in eval whatever its parent asks (FROMAGe's frozen CLIP).
  struct Pinned : Module {
    Pinned() : Module("Pinned") { drop = register_module("drop", std::make_shared<Dropout>(0.5, 1)); }
    void train(bool) override { Module::train(false); }
    std::shared_ptr<Dropout> drop;
  };
  struct Parent : Module {
    Parent() : Module("Parent") {
      a = register_module("a", std::make_shared<Dropout>(0.5, 2));
      b = register_module("b", std::make_shared<Pinned>());
    }
    std::shared_ptr<Dropout> a;
    std::shared_ptr<Pinned> b;
  };
  Parent p;
  p.train();
  EXPECT_TRUE(p.is_training());
  EXPECT_TRUE(p.a->is_training());
  EXPECT_FALSE(p.b->drop->is_training());
  p.eval();
  EXPECT_FALSE(p.a->is_training());
  p.train(true);
  EXPECT_TRUE(p.a->is_training());
  EXPECT_FALSE(p.b->is_training());
}

TEST(NnModule, ToDtypeConvertsFloatsKeepsIdsAndFlags) {
  struct WithIds : Module {
    WithIds() : Module("WithIds") {
      lin = register_module("lin", std::make_shared<Linear>(3, 2));
      register_buffer("ids", &ids, Tensor::arange(4));
      register_buffer("table", &table, Tensor::ones({2}));
    }
    std::shared_ptr<Linear> lin;
    Tensor ids, table;
  };
  WithIds m;
  m.lin->freeze();
  const std::vector<double> before = values(m.lin->weight);
  m.to(DType::bf16);
  EXPECT_EQ(m.lin->weight.dtype(), DType::bf16);
  EXPECT_EQ(m.lin->bias.dtype(), DType::bf16);
  EXPECT_EQ(m.table.dtype(), DType::bf16);
  EXPECT_EQ(m.ids.dtype(), DType::i64);
  EXPECT_FALSE(m.lin->weight.requires_grad());
  expect_close("bf16 weight", m.lin->weight, Tensor::from_vector(before, {2, 3}), 0, 1.0 / 128);  // 8-bit mantissa
  m.to(DType::f64);
  EXPECT_EQ(m.lin->weight.dtype(), DType::f64);
  EXPECT_THROW(m.to(DType::i32), DTypeError);
}

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("rscapret_nn_" + std::to_string(getpid()) + "_" + name);
}

TEST(NnModule, StateRoundTripsThroughSafetensors) {
  manual_seed(1);
  Toy a;
  manual_seed(2);
  Toy b;
  EXPECT_NE(values(a.embed->weight), values(b.embed->weight));
  const auto path = temp_file("toy.safetensors");
  save_safetensors(path, a.named_state());
  const LoadReport r = b.load_state_dict(SafetensorsCheckpoint(path));
  std::filesystem::remove(path);
  EXPECT_EQ(r.loaded.size(), a.named_parameters().size());  // position_ids is not persistent
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty());
  for (auto& [n, t] : a.named_parameters()) EXPECT_EQ(values(t), values(b.parameter(n))) << n;
  // state_dict handles share memory with the module but carry no autograd state.
  const StateDict sd = a.state_dict();
  EXPECT_EQ(sd.at("embed.weight").raw_data(), a.embed->weight.raw_data());
  EXPECT_FALSE(sd.at("embed.weight").requires_grad());
  EXPECT_EQ(sd.count("position_ids"), 0u);
}

TEST(NnModule, TrainableOnlyStateForSmallCheckpoints) {
  Toy toy;
  toy.freeze();
  toy.post_layernorm->unfreeze();
  EXPECT_EQ(names_of(toy.named_state(true)), (std::vector<std::string>{"post_layernorm.weight", "post_layernorm.bias"}));
}

TEST(NnModule, LoadErrorListsEveryProblemAndChangesNothing) {
  Toy toy;
  StateDict sd = toy.state_dict();
  for (auto& [n, t] : sd) t = t.clone();
  sd.erase("layers.1.mlp.fc2.bias");                               // missing
  sd["layers.1.mlp.fc9.weight"] = Tensor::zeros({2});              // unexpected
  sd["embed.weight"] = Tensor::zeros({11, 8});                     // mis-shaped
  sd["post_layernorm.weight"] = Tensor::zeros({8});                // fine, but the load must not apply it
  const std::vector<double> before = values(toy.post_layernorm->weight);
  try {
    toy.load_state_dict(sd);
    FAIL() << "expected StateDictError";
  } catch (const StateDictError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1 missing, 1 unexpected, 1 mis-shaped"), std::string::npos) << msg;
    EXPECT_NE(msg.find("layers.1.mlp.fc2.bias f32(8)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("layers.1.mlp.fc9.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("embed.weight: module (10,8), checkpoint (11,8)"), std::string::npos) << msg;
  }
  EXPECT_EQ(values(toy.post_layernorm->weight), before);
}

TEST(NnModule, NonStrictIgnoreAndPrefix) {
  Toy src;
  // A checkpoint as Hugging Face nests it, with an old persistent position_ids and a second tower.
  StateDict ck;
  for (auto& [n, t] : src.state_dict()) ck["vision_model." + n] = t;
  ck["vision_model.position_ids"] = Tensor::arange(5);
  ck["text_model.embed.weight"] = Tensor::zeros({3, 3});
  Toy dst;
  LoadOptions opt;
  opt.prefix = "vision_model.";
  EXPECT_THROW(dst.load_state_dict(ck, opt), StateDictError);  // position_ids: unexpected
  opt.ignore = {"*.position_ids"};
  const LoadReport r = dst.load_state_dict(ck, opt);
  EXPECT_EQ(r.ignored, (std::vector<std::string>{"text_model.embed.weight", "vision_model.position_ids"}));
  EXPECT_EQ(values(dst.embed->weight), values(src.embed->weight));

  // Non-strict: the missing name is reported and keeps its value; the unexpected one is reported.
  StateDict partial = src.state_dict();
  partial.erase("post_layernorm.bias");
  partial["extra"] = Tensor::zeros({1});
  Toy third;
  LoadOptions loose;
  loose.strict = false;
  const LoadReport r2 = third.load_state_dict(partial, loose);
  EXPECT_EQ(r2.missing, std::vector<std::string>{"post_layernorm.bias"});
  EXPECT_EQ(r2.unexpected, std::vector<std::string>{"extra"});
  EXPECT_EQ(values(third.post_layernorm->bias), std::vector<double>(8, 0.0));  // its Fill
}

TEST(NnModule, LoadCopiesInPlaceSoHeldHandlesStayValid) {
  Toy a, b;
  const Tensor held = b.embed->weight;  // an optimizer's handle
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(held.raw_data(), b.embed->weight.raw_data());
  EXPECT_EQ(values(held), values(a.embed->weight));
  EXPECT_NE(b.embed->weight.raw_data(), a.embed->weight.raw_data());  // a copy, not an alias
}

TEST(NnModule, DeferredInitThenLoadOrMaterialize) {
  Init lazy;
  lazy.deferred = true;
  lazy.dtype = DType::bf16;
  Toy skeleton(lazy);
  EXPECT_FALSE(skeleton.embed->weight.defined());
  EXPECT_EQ(skeleton.num_parameters(), Toy().num_parameters());
  Toy src;
  skeleton.load_state_dict(src.state_dict());
  EXPECT_EQ(skeleton.embed->weight.dtype(), DType::bf16);  // converted to the slot's dtype
  expect_close("loaded", skeleton.embed->weight, src.embed->weight, 0, 1.0 / 128);

  Toy other(lazy);
  other.materialize();
  EXPECT_TRUE(other.embed->weight.defined());
  EXPECT_EQ(values(other.post_layernorm->weight), std::vector<double>(8, 1.0));
}

TEST(NnModule, ZeroCopyForFrozenWeightsUnfreezeCopies) {
  Toy src;
  StateDict ck;
  for (auto& [n, t] : src.state_dict()) ck[n] = t.to(DType::bf16);  // a bf16 checkpoint
  Toy frozen;
  frozen.freeze();
  LoadOptions opt;
  opt.zero_copy = true;
  frozen.load_state_dict(ck, opt);
  EXPECT_EQ(frozen.embed->weight.dtype(), DType::bf16);
  EXPECT_EQ(frozen.embed->weight.raw_data(), ck.at("embed.weight").raw_data());  // adopted, no copy
  frozen.embed->unfreeze();
  EXPECT_NE(frozen.embed->weight.raw_data(), ck.at("embed.weight").raw_data());  // owned before training
  EXPECT_TRUE(frozen.embed->weight.requires_grad());
  // Trainable slots never alias the checkpoint.
  Toy trainable;
  trainable.load_state_dict(ck, opt);
  EXPECT_NE(trainable.embed->weight.raw_data(), ck.at("embed.weight").raw_data());
  EXPECT_EQ(trainable.embed->weight.dtype(), DType::f32);
}

TEST(NnModule, GlobMatch) {
  EXPECT_TRUE(glob_match("*.position_ids", "vision_model.embeddings.position_ids"));
  EXPECT_TRUE(glob_match("text_model.*", "text_model.a.b"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYY"));
  EXPECT_TRUE(glob_match("exact", "exact"));
  EXPECT_FALSE(glob_match("exact", "exact2"));
  EXPECT_TRUE(glob_match("*", ""));
}

}  // namespace
}  // namespace rscapret::testing
