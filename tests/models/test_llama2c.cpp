// llama2.c legacy checkpoint (fixtures/stories260K): 200 greedy tokens decode to exactly the text
// run.c prints, the logits match its dumps, and the q/k permutation is checked on its own.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "models/llama/llama.h"
#include "models/llama/llama2c.h"
#include "models/tokenizers/llama_tokenizer.h"
#include "tests/common/shared_dir.h"
#include "tests/models/model_test_util.h"

using namespace rscapret;
using namespace rscapret::models;
using rscapret::testing::close_rel;
using rscapret::testing::shared_path;

namespace {

constexpr const char* kBin = "fixtures/stories260K/stories260K.bin";

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Llama2c, PermutationMovesInterleavedPairsToHalves) {
  // One head of D = 4 over 1 input: Meta rows (0,1,2,3) hold pairs (0,1) and (2,3); HF's
  // half-split layout wants the pair members at (0,2) and (1,3), i.e. rows 0,2,1,3.
  const Tensor w = Tensor::from_vector<float>({0, 1, 2, 3, 10, 11, 12, 13}, {8, 1});  // 2 heads
  const Tensor p = permute_rope_rows_to_half_split(w, 2, 4);
  EXPECT_EQ(p.to_vector<float>(), (std::vector<float>{0, 2, 1, 3, 10, 12, 11, 13}));
}

TEST(Llama2c, Stories260KGreedyTextIsExact) {
  RSCAPRET_REQUIRE_SHARED(kBin);
  const auto model = LlamaForCausalLM::from_llama2c(shared_path(kBin));
  const auto& c = model->config();
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_TRUE(c.tie_word_embeddings);
  const auto ref = nlohmann::json::parse(read_text(shared_path("fixtures/stories260K/stories260K_greedy_reference.json")));

  // run.c -t 0 -n 200: BOS, then 200 positions, each feeding the previous argmax.
  LlamaDecoder dec(*model);
  GenerateOptions opt;
  opt.max_new_tokens = 200;
  const Tensor bos = Tensor::from_vector<int64_t>({1}, {1, 1});
  const GenerateResult r = generate(dec, bos, opt);
  EXPECT_EQ(r.tokens[0], ref["argmax_next_token_at_pos"].get<std::vector<int64_t>>());

  const auto tok = tokenizers::LlamaTokenizer::load(shared_path("fixtures/stories260K/tok512.bin"));
  std::vector<int32_t> ids = {1};
  for (int64_t t : r.tokens[0]) ids.push_back(int32_t(t));
  EXPECT_EQ(tok.decode(ids), read_text(shared_path("fixtures/stories260K/expected_stdout_t0_n200.txt")));

  // Logits at positions 0..2 against run.c's f32 dump (both are f32 computations in different
  // orders: 1e-4 of the logit scale (~20) covers the reordering).
  const auto inputs = ref["input_token_at_pos"].get<std::vector<int64_t>>();
  LlamaInput in;
  in.input_ids = Tensor::from_vector<int64_t>({inputs[0], inputs[1], inputs[2]}, {1, 3});
  const Tensor logits = model->forward(in).logits;  // [1, 3, 512]
  for (int p = 0; p < 3; ++p) {
    const auto want = ref["logits_full_at_pos"]["pos" + std::to_string(p)].get<std::vector<float>>();
    EXPECT_TRUE(close_rel("logits pos" + std::to_string(p), logits.select(1, p).select(0, 0),
                          Tensor::from_vector(want, {int64_t(want.size())}), 1e-4));
  }
}

TEST(Llama2c, TruncatedFileIsAFormatError) {
  RSCAPRET_REQUIRE_SHARED(kBin);
  const std::string bytes = read_text(shared_path(kBin));
  const auto path = std::filesystem::temp_directory_path() / "rscapret_truncated_llama2c.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size() / 2));
  }
  EXPECT_THROW(load_llama2c(path), FormatError);
  std::filesystem::remove(path);
}
