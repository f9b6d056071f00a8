// Checkpoint loading: bf16-weight copies of the tiny models against their f32 outputs (weights
// stay bf16, zero-copy), and the errors: missing, mis-shaped, wrong-dtype and unexpected tensors,
// a truncated file, an unknown architecture.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <unistd.h>

#include "models/checkpoint/forward_dump.h"
#include "models/checkpoint/hf_checkpoint.h"
#include "models/clip/clip.h"
#include "models/llama/llama.h"
#include "nn/module.h"
#include "tensor/safetensors.h"
#include "tests/common/shared_dir.h"
#include "tests/models/model_test_util.h"

using namespace rscapret;
using namespace rscapret::models;
using rscapret::testing::close_rel;
using rscapret::testing::shared_path;

namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A scratch copy of a fixture model whose tensors pass through `edit` (and config text through
// `edit_config`).
struct ScratchModel {
  std::filesystem::path dir;
  ScratchModel(const std::string& fixture, const std::function<void(std::map<std::string, Tensor>&)>& edit,
               const std::function<std::string(std::string)>& edit_config = nullptr) {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("rscapret_models_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
    std::string cfg = read_text(shared_path(fixture + "/config.json"));
    write_text(dir / "config.json", edit_config ? edit_config(cfg) : cfg);
    auto tensors = load_safetensors(shared_path(fixture + "/model.safetensors"));
    edit(tensors);
    save_safetensors(dir / "model.safetensors", {tensors.begin(), tensors.end()});
  }
  ~ScratchModel() { std::filesystem::remove_all(dir); }
};

std::map<std::string, Tensor> inputs_of(const std::string& fixture) {
  std::map<std::string, Tensor> in;
  for (auto& [n, t] : load_safetensors(shared_path(fixture + "/expected.safetensors")))
    if (n == "pixel_values" || n == "input_ids" || n == "attention_mask" || n == "inputs_embeds" ||
        n == "labels" || n == "greedy_prompt")
      in[n] = t;
  return in;
}

void to_bf16(std::map<std::string, Tensor>& m) {
  for (auto& [n, t] : m)
    if (t.dtype() == DType::f32) t = t.to(DType::bf16);
}

// bf16 weights carry 8 significant bits (relative rounding up to 2^-9 = 2e-3 per weight); through
// dot products of 48..192 terms, two layers and the norms, the outputs move by about 1e-2 of their
// magnitude. 5e-2 bounds that while still catching a wrong layout (errors of order 1).
constexpr double kTolBf16 = 5e-2;

void compare_bf16(const std::string& fixture) {
  ScratchModel bf16(fixture, to_bf16);
  const auto in = inputs_of(fixture);
  ForwardOptions opt;
  const auto want = run_forward(shared_path(fixture), in, opt);
  const auto got = run_forward(bf16.dir, in, opt);
  for (const auto& [name, w] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    if (w.dtype() == DType::i64) continue;  // greedy ids may legitimately differ under bf16 rounding
    if (name == "logits_per_image") {
      // exp(logit_scale) (~14.3) times cosines near 0: bound the cosine error by 1e-2, i.e. the
      // relative error of the unit embeddings above, scaled by 14.3.
      EXPECT_TRUE(rscapret::testing::close_abs(name + " (bf16)", got.at(name), w, 1e-2 * 14.3));
      continue;
    }
    EXPECT_TRUE(close_rel(name + " (bf16)", got.at(name), w, kTolBf16));
  }
}

}  // namespace

TEST(Checkpoint, Bf16LlamaMatchesF32AndStaysBf16) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors");
  compare_bf16("fixtures/hf/llama_tiny");
  ScratchModel bf16("fixtures/hf/llama_tiny", to_bf16);
  const auto m = LlamaForCausalLM::from_pretrained(bf16.dir);
  EXPECT_EQ(m->model->layers->operator[](0).self_attn->q_proj->weight.dtype(), DType::bf16);  // no f32 copy
  EXPECT_TRUE(m->model->embed_tokens->weight.storage()->read_only());                          // the mapping
}

TEST(Checkpoint, Bf16ClipMatchesF32) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/model.safetensors");
  compare_bf16("fixtures/hf/clip_tiny");
}

TEST(Checkpoint, MissingMisShapedAndUnexpectedAreListed) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors");
  ScratchModel bad("fixtures/hf/llama_tiny", [](std::map<std::string, Tensor>& m) {
    m.erase("model.layers.1.mlp.up_proj.weight");
    m["model.norm.weight"] = Tensor::zeros({63});
    m["model.extra.weight"] = Tensor::zeros({2});
    m["model.layers.0.self_attn.rotary_emb.inv_freq"] = Tensor::zeros({8});  // old buffer: ignored
  });
  try {
    LlamaForCausalLM::from_pretrained(bad.dir);
    FAIL() << "expected a StateDictError";
  } catch (const nn::StateDictError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.extra.weight"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("inv_freq"), std::string::npos) << msg;
  }
}

TEST(Checkpoint, PositionIdsBuffersAreAccepted) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/model.safetensors");
  ScratchModel with_ids("fixtures/hf/clip_tiny", [](std::map<std::string, Tensor>& m) {
    m["vision_model.embeddings.position_ids"] = Tensor::arange(17).reshape({1, 17});
    m["text_model.embeddings.position_ids"] = Tensor::arange(16).reshape({1, 16});
  });
  EXPECT_NO_THROW(ClipModel::from_pretrained(with_ids.dir));
}

TEST(Checkpoint, WrongDtypeIsADTypeError) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors");
  ScratchModel bad("fixtures/hf/llama_tiny",
                   [](std::map<std::string, Tensor>& m) { m["model.norm.weight"] = Tensor::zeros({64}, DType::i32); });
  EXPECT_THROW(LlamaForCausalLM::from_pretrained(bad.dir), DTypeError);
}

TEST(Checkpoint, TruncatedFileIsAFormatError) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors");
  ScratchModel m("fixtures/hf/llama_tiny", [](std::map<std::string, Tensor>&) {});
  const std::string bytes = read_text(m.dir / "model.safetensors");
  write_text(m.dir / "model.safetensors", bytes.substr(0, bytes.size() - 100));
  EXPECT_THROW(LlamaForCausalLM::from_pretrained(m.dir), FormatError);
}

TEST(Checkpoint, UnknownArchitectureIsAValueError) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors");
  ScratchModel m("fixtures/hf/llama_tiny", [](std::map<std::string, Tensor>&) {}, [](std::string cfg) {
    return cfg.replace(cfg.find("LlamaForCausalLM"), 16, "MistralForCausalLM");
  });
  try {
    LlamaForCausalLM::from_pretrained(m.dir);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("MistralForCausalLM"), std::string::npos) << e.what();
  }
  EXPECT_THROW(open_hf_checkpoint("/nonexistent/model"), IOError);
}

TEST(Checkpoint, ArchitectureMismatchIsAValueError) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/clip_tiny/model.safetensors");
  EXPECT_THROW(LlamaForCausalLM::from_pretrained(shared_path("fixtures/hf/clip_tiny")), ValueError);
}

TEST(Checkpoint, ShardedIndexLoadsTheSameModel) {
  RSCAPRET_REQUIRE_SHARED("fixtures/hf/llama_tiny/model.safetensors");
  ScratchModel m("fixtures/hf/llama_tiny", [](std::map<std::string, Tensor>&) {});
  // Split model.safetensors into two shards with a weight_map, as save_pretrained does for 7B.
  auto all = load_safetensors(m.dir / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> a, b;
  std::string map;
  for (auto& [n, t] : all) {
    const bool first = n.find("layers.1.") == std::string::npos;
    (first ? a : b).emplace_back(n, t.clone());
    map += (map.empty() ? "" : ",") + ("\"" + n + "\": \"model-0000" + (first ? "1" : "2") + "-of-00002.safetensors\"");
  }
  all.clear();
  save_safetensors(m.dir / "model-00001-of-00002.safetensors", a);
  save_safetensors(m.dir / "model-00002-of-00002.safetensors", b);
  write_text(m.dir / "model.safetensors.index.json", "{\"metadata\": {}, \"weight_map\": {" + map + "}}");
  std::filesystem::remove(m.dir / "model.safetensors");
  const auto in = inputs_of("fixtures/hf/llama_tiny");
  const auto want = run_forward(shared_path("fixtures/hf/llama_tiny"), in);
  const auto got = run_forward(m.dir, in);
  // Same weights, same arithmetic: bit-identical.
  EXPECT_EQ(got.at("logits").to_vector<float>(), want.at("logits").to_vector<float>());
}
