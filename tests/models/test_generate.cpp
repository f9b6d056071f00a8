// Generation strategies on a toy Markov "model" whose next-token logits depend only on the last
// token, so every answer can be worked out by brute force.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "models/generate/generate.h"

using namespace rscapret;
using namespace rscapret::models;

namespace {

constexpr int64_t V = 4;
// logits[last][next]
const float kTable[V][V] = {{0.1f, 2.0f, 1.0f, 0.5f},
                            {1.5f, 0.2f, 1.4f, 0.1f},
                            {0.3f, 0.2f, 0.1f, 2.5f},
                            {1.0f, 1.0f, 0.9f, 0.0f}};

class MarkovDecoder : public Decoder {
 public:
  int64_t steps = 0;
  Tensor step(const Tensor& ids) override {
    ++steps;
    const int64_t R = ids.shape()[0], T = ids.shape()[1];
    last_.assign(R, 0);
    Tensor out = Tensor::empty({R, V});
    for (int64_t r = 0; r < R; ++r) {
      last_[r] = int64_t(ids.at({r, T - 1}));
      for (int64_t v = 0; v < V; ++v) out.data<float>()[r * V + v] = kTable[last_[r]][v];
    }
    return out;
  }
  void select_rows(const std::vector<int64_t>& rows) override { rows_seen.push_back(rows); }
  std::vector<std::vector<int64_t>> rows_seen;

 private:
  std::vector<int64_t> last_;
};

double logp(int64_t last, int64_t next) {
  double s = 0;
  for (int64_t v = 0; v < V; ++v) s += std::exp(kTable[last][v]);
  return kTable[last][next] - std::log(s);
}

}  // namespace

TEST(Generate, GreedyFollowsArgmaxAndStops) {
  MarkovDecoder d;
  GenerateOptions opt;
  opt.max_new_tokens = 6;
  auto r = generate(d, Tensor::from_vector<int64_t>({0, 2}, {2, 1}), opt);
  EXPECT_EQ(r.tokens[0], (std::vector<int64_t>{1, 0, 1, 0, 1, 0}));
  EXPECT_EQ(r.tokens[1], (std::vector<int64_t>{3, 0, 1, 0, 1, 0}));
  EXPECT_EQ(d.steps, 6);  // the prompt, then one step per token but the last
  // Scores are the summed log-probabilities of the emitted tokens (computed after the next step
  // is issued, from the host copy of this step's logits).
  auto path_logp = [](int64_t last, const std::vector<int64_t>& toks) {
    double s = 0;
    for (int64_t t : toks) s += logp(last, t), last = t;
    return s;
  };
  EXPECT_NEAR(r.scores[0], path_logp(0, r.tokens[0]), 1e-5);
  EXPECT_NEAR(r.scores[1], path_logp(2, r.tokens[1]), 1e-5);
  opt.stop_tokens = {3};  // row 1 stops at once; row 0 never emits 3
  MarkovDecoder d2;
  r = generate(d2, Tensor::from_vector<int64_t>({0, 2}, {2, 1}), opt);
  EXPECT_EQ(r.tokens[1], (std::vector<int64_t>{3}));
  EXPECT_EQ(r.tokens[0].size(), 6u);
  EXPECT_NEAR(r.scores[1], path_logp(2, {3}), 1e-5);  // a finished row stops scoring
  EXPECT_NEAR(r.scores[0], path_logp(0, r.tokens[0]), 1e-5);
}

TEST(Generate, SamplingIsSeededAndTopPRestricts) {
  GenerateOptions opt;
  opt.strategy = DecodeStrategy::sample;
  opt.max_new_tokens = 20;
  opt.seed = 42;
  MarkovDecoder a, b;
  const auto prompt = Tensor::from_vector<int64_t>({0}, {1, 1});
  const auto ra = generate(a, prompt, opt), rb = generate(b, prompt, opt);
  EXPECT_EQ(ra.tokens, rb.tokens);
  opt.top_p = 0.01;  // only the most probable token survives: sampling becomes greedy
  MarkovDecoder c, g;
  GenerateOptions greedy;
  greedy.max_new_tokens = 20;
  EXPECT_EQ(generate(c, prompt, opt).tokens, generate(g, prompt, greedy).tokens);
  // sample_row: u maps onto the cumulative distribution of the nucleus.
  const std::vector<float> l = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
  EXPECT_EQ(sample_row(l, 1.0, 1.0, 0.74), 1);
  EXPECT_EQ(sample_row(l, 1.0, 1.0, 0.76), 0);
  EXPECT_EQ(sample_row(l, 1.0, 0.5, 0.99), 1);  // nucleus {1}
}

TEST(Generate, BeamSearchFindsTheBestPenalisedSequence) {
  for (double lp : {0.0, 1.0, 2.0}) {
    GenerateOptions opt;
    opt.strategy = DecodeStrategy::beam;
    opt.num_beams = 64;  // >= every prefix: the search is exhaustive
    opt.max_new_tokens = 3;
    opt.stop_tokens = {3};
    opt.length_penalty = lp;
    MarkovDecoder d;
    const auto r = generate(d, Tensor::from_vector<int64_t>({0}, {1, 1}), opt);
    // Brute force: sequences that end at their first stop token, or run to 3 tokens.
    double best = -INFINITY;
    std::vector<int64_t> best_seq;
    std::function<void(std::vector<int64_t>, double)> walk = [&](std::vector<int64_t> s, double sc) {
      const bool stopped = !s.empty() && s.back() == 3;
      if (stopped || s.size() == 3) {
        const double score = sc / std::pow(double(s.size()), lp);
        if (score > best) best = score, best_seq = s;
        return;
      }
      for (int64_t v = 0; v < V; ++v) {
        auto t = s;
        t.push_back(v);
        walk(t, sc + logp(s.empty() ? 0 : s.back(), v));
      }
    };
    walk({}, 0.0);
    EXPECT_EQ(r.tokens[0], best_seq) << "length_penalty " << lp;
    EXPECT_NEAR(r.scores[0], best, 1e-5) << "length_penalty " << lp;
  }
}
