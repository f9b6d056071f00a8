// The parity path behind `rscapret forward` against every tensor of the transformers dumps
// (fixtures/hf/*/expected.safetensors): CLIP vision + text, LLaMA logits, hidden states,
// inputs_embeds, the loss and its gradient with respect to the embeddings, greedy decoding.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <unistd.h>

#include "models/checkpoint/forward_dump.h"
#include "models/clip/clip.h"
#include "tensor/safetensors.h"
#include "tests/common/shared_dir.h"
#include "tests/models/model_test_util.h"

using namespace rscapret;
using namespace rscapret::models;
using rscapret::testing::close_rel;
using rscapret::testing::shared_path;

namespace {

const std::set<std::string> kInputs = {"pixel_values", "input_ids", "attention_mask", "inputs_embeds", "labels",
                                       "greedy_prompt"};

// Runs the dump's inputs and checks every reference output. The reference is f64 arithmetic on the
// f32 weights; ours is f32 (accumulations of 48..192 terms, two layers, norms and softmax): a few
// 1e-7 relative, so 1e-4 of each tensor's magnitude leaves a wide margin while still catching any
// layout or formula mistake (those show up at 1e-2 and above). The loss gradient goes through the
// same f32 forward and its transpose: the same bound holds.
void check_dump(const std::string& dir) {
  const auto expected = load_safetensors(shared_path(dir + "/expected.safetensors"));
  std::map<std::string, Tensor> inputs;
  for (const auto& [name, t] : expected)
    if (kInputs.count(name)) inputs[name] = t;
  const auto got = run_forward(shared_path(dir), inputs);
  int compared = 0;
  for (const auto& [name, want] : expected) {
    if (kInputs.count(name)) continue;
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << "no output " << name;
    if (want.dtype() == DType::i64) {
      EXPECT_EQ(it->second.to_vector<int64_t>(), want.to_vector<int64_t>()) << name;
    } else {
      EXPECT_EQ(it->second.dtype(), DType::f32) << name;
      EXPECT_TRUE(close_rel(name, it->second, want, 1e-4));
    }
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

}  // namespace

TEST(Forward, ClipTinyMatchesTransformers) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/expected.safetensors");
  check_dump("fixtures/hf/clip_tiny");
}

TEST(Forward, LlamaTinyMatchesTransformers) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/expected.safetensors");
  check_dump("fixtures/hf/llama_tiny");
}

TEST(Clip, WrongImageSizeIsRejected) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/model.safetensors");
  const auto m = ClipModel::from_pretrained(shared_path("fixtures/hf/clip_tiny"));
  EXPECT_THROW(m->encode_image(Tensor::zeros({1, 3, 48, 48})), ShapeError);
}

TEST(Clip, LegacyPoolingTakesTheArgmaxId) {
  ClipTextConfig c;
  c.eos_token_id = 2;
  c.vocab_size = 50;
  c.hidden_size = 8;
  c.num_attention_heads = 2;
  c.num_hidden_layers = 1;
  c.intermediate_size = 16;
  c.max_position_embeddings = 8;
  ClipTextTransformer legacy(c, {});
  const Tensor ids = Tensor::from_vector<int64_t>({5, 49, 2, 0, 5, 7, 9, 49}, {2, 4});
  EXPECT_EQ(legacy.eos_positions(ids), (std::vector<int64_t>{1, 3}));
  c.eos_token_id = 9;
  ClipTextTransformer first_eos(c, {});
  EXPECT_EQ(first_eos.eos_positions(ids), (std::vector<int64_t>{0, 2}));  // no EOS in row 0: position 0
}

// The CLI end to end (when the program was built beside the tests): its file holds the same
// tensors as run_forward.
TEST(Forward, CliWritesTheOutputs) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/expected.safetensors");
  const std::filesystem::path exe = std::filesystem::path(RSCAPRET_BINARY_DIR) / "app" / "rscapret";
  if (!std::filesystem::exists(exe)) GTEST_SKIP() << "needs " << exe.string() << " (build the rscapret target)";
  const auto dir = shared_path("fixtures/hf/llama_tiny");
  const auto out = std::filesystem::temp_directory_path() / ("rscapret_forward_" + std::to_string(::getpid()) + ".st");
  const std::string cmd = exe.string() + " forward --model " + dir.string() + " --inputs " +
                          (dir / "expected.safetensors").string() + " --output " + out.string() + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto got = load_safetensors(out);
  std::filesystem::remove(out);
  const auto expected = load_safetensors(dir / "expected.safetensors");
  for (const char* name : {"logits", "loss_from_embeds", "grad_inputs_embeds", "greedy_full_logits"})
    EXPECT_TRUE(close_rel(std::string("cli ") + name, got.at(name), expected.at(name), 1e-4));
  EXPECT_EQ(got.at("greedy_output").to_vector<int64_t>(), expected.at("greedy_output").to_vector<int64_t>());
  EXPECT_EQ(got.at("greedy_output").dtype(), DType::i64);
  // Wrong usage: a model folder that does not exist fails with a message, not a crash.
  EXPECT_NE(std::system((exe.string() + " forward --model /nonexistent --inputs x --output y 2>/dev/null").c_str()), 0);
}
