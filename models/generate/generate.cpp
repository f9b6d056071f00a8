#include "models/generate/generate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "tensor/error.h"
#include "tensor/rng.h"

namespace rscapret::models {
namespace {

// Host copy of logits [R, V] as f32 rows.
std::vector<std::vector<float>> logits_rows(const Tensor& logits) {
  RS_CHECK(logits.dim() == 2, ShapeError, "generate", "logits must be [R, V], got ", format_shape(logits.shape()));
  const Tensor l = logits.to(DType::f32).contiguous().to(Device::cpu());
  const int64_t R = l.shape()[0], V = l.shape()[1];
  const float* p = l.data<float>();
  std::vector<std::vector<float>> rows(R);
  for (int64_t r = 0; r < R; ++r) rows[r].assign(p + r * V, p + (r + 1) * V);
  return rows;
}

void log_softmax_inplace(std::vector<float>& x) {
  float m = -std::numeric_limits<float>::infinity();
  for (float v : x) m = std::max(m, v);
  double s = 0.0;
  for (float v : x) s += std::exp(double(v) - m);
  const double lse = m + std::log(s);
  for (float& v : x) v = float(double(v) - lse);
}

bool is_stop(const GenerateOptions& opt, int64_t tok) {
  return std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), tok) != opt.stop_tokens.end();
}

Tensor column(const std::vector<int64_t>& toks) {
  return Tensor::from_vector(toks, {int64_t(toks.size()), 1});
}

void process(const GenerateOptions& opt, Tensor& logits) {
  if (opt.logits_processor) opt.logits_processor(logits);
}

// First index of the largest value (argmax_row's rule, on a host copy).
int64_t argmax_of(const std::vector<float>& row) {
  int64_t best = 0;
  for (int64_t v = 1; v < int64_t(row.size()); ++v)
    if (row[size_t(v)] > row[size_t(best)]) best = v;
  return best;
}

// Greedy and sampling: one token per row per step. The next step is issued before this step's
// scores are computed: on a GPU the step's kernels run while the host does the log-softmax over
// the vocabulary (about as long as a small kernel per row), instead of the device idling for it.
GenerateResult generate_simple(Decoder& dec, Tensor logits, const GenerateOptions& opt) {
  const int64_t B = logits.shape()[0];
  const bool sample = opt.strategy == DecodeStrategy::sample && opt.temperature > 0.0;
  Generator gen(opt.seed);
  GenerateResult res;
  res.tokens.assign(B, {});
  res.scores.assign(B, 0.0);
  std::vector<bool> done(B, false);
  for (int64_t step = 0; step < opt.max_new_tokens; ++step) {
    process(opt, logits);
    auto rows = logits_rows(logits);  // [B][V] on the host
    std::vector<double> u;
    if (sample) u = gen.uniform({B}, 0.0, 1.0, DType::f64).to_vector<double>();
    std::vector<int64_t> next(B);
    std::vector<bool> scored(B, false);  // rows that emitted a token this step
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) {  // finished rows keep feeding their stop token; their output is ignored
        next[b] = res.tokens[b].back();
        continue;
      }
      next[b] = sample ? sample_row(rows[b], opt.temperature, opt.top_p, u[b]) : argmax_of(rows[b]);
      res.tokens[b].push_back(next[b]);
      scored[b] = true;
      if (is_stop(opt, next[b])) done[b] = true;
    }
    const bool finished = std::all_of(done.begin(), done.end(), [](bool d) { return d; }) ||
                          step + 1 == opt.max_new_tokens;  // no forward for a token nobody will read
    if (!finished) logits = dec.step(column(next));
    for (int64_t b = 0; b < B; ++b) {
      if (!scored[b]) continue;
      log_softmax_inplace(rows[b]);
      res.scores[b] += rows[b][next[b]];
    }
    if (finished) break;
  }
  return res;
}

struct Beam {
  std::vector<int64_t> tokens;
  double logp = 0.0;
  int64_t parent = 0;  // state row it continues
};

struct Finished {
  std::vector<std::pair<double, std::vector<int64_t>>> hyps;  // (score, tokens), best first
  bool done = false;
};

double penalised(double logp, size_t n, double length_penalty) {
  return logp / std::pow(double(std::max<size_t>(n, 1)), length_penalty);
}

void add_finished(Finished& f, int64_t K, double score, std::vector<int64_t> toks) {
  f.hyps.emplace_back(score, std::move(toks));
  std::stable_sort(f.hyps.begin(), f.hyps.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (int64_t(f.hyps.size()) > K) f.hyps.resize(K);
}

// One beam-search step for one batch row whose beams occupy state rows row0.. (log-probs `lp`).
std::vector<Beam> beam_step(const std::vector<Beam>& beams, const std::vector<std::vector<float>>& lp, int64_t row0,
                            int64_t K, Finished& fin, const GenerateOptions& opt) {
  const int64_t nb = int64_t(beams.size()), V = int64_t(lp[row0].size());
  // Candidates: the best 2K over all beams, so K running beams survive even when some of the best
  // candidates are stop tokens (as HF does).
  struct Cand { double logp; int64_t beam, tok; };
  std::vector<Cand> cands;
  const int64_t m = std::min<int64_t>(2 * K, V);
  std::vector<int64_t> idx(V);
  for (int64_t j = 0; j < nb; ++j) {
    if (std::isinf(beams[j].logp)) continue;  // a dead filler beam
    const auto& row = lp[row0 + j];
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + m, idx.end(),
                      [&](int64_t a, int64_t c) { return row[a] > row[c] || (row[a] == row[c] && a < c); });
    for (int64_t t = 0; t < m; ++t) cands.push_back({beams[j].logp + row[idx[t]], j, idx[t]});
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& c) { return a.logp > c.logp; });
  std::vector<Beam> next;
  for (int64_t rank = 0; rank < int64_t(cands.size()) && rank < 2 * K && int64_t(next.size()) < K; ++rank) {
    const Cand& c = cands[rank];
    std::vector<int64_t> toks = beams[c.beam].tokens;
    toks.push_back(c.tok);
    if (is_stop(opt, c.tok)) {
      const double score = penalised(c.logp, toks.size(), opt.length_penalty);  // before toks moves
      if (rank < K) add_finished(fin, K, score, std::move(toks));
      continue;
    }
    next.push_back({std::move(toks), c.logp, row0 + c.beam});
  }
  // Done when K hypotheses are finished and the best running beam cannot beat the worst of them.
  if (next.empty()) {
    fin.done = true;
  } else if (int64_t(fin.hyps.size()) == K &&
             fin.hyps.back().first >= penalised(next[0].logp, next[0].tokens.size(), opt.length_penalty)) {
    fin.done = true;
  }
  return next;
}

GenerateResult generate_beam(Decoder& dec, Tensor logits, const GenerateOptions& opt) {
  const int64_t B = logits.shape()[0], K = opt.num_beams;
  RS_CHECK(K >= 1, ValueError, "generate", "num_beams must be >= 1, got ", K);
  std::vector<std::vector<Beam>> running(B);  // one empty beam per batch row at first
  for (int64_t b = 0; b < B; ++b) running[b].push_back({{}, 0.0, b});
  std::vector<Finished> fin(B);
  for (int64_t step = 0; step < opt.max_new_tokens; ++step) {
    process(opt, logits);
    auto lp = logits_rows(logits);
    for (auto& r : lp) log_softmax_inplace(r);
    int64_t row0 = 0;  // the first state row of batch row b
    for (int64_t b = 0; b < B; ++b) {
      const int64_t nb = int64_t(running[b].size());
      std::vector<Beam> next;
      if (!fin[b].done) next = beam_step(running[b], lp, row0, K, fin[b], opt);
      if (next.empty()) {  // finished: keep its beams (outputs ignored) so every row has K state rows
        next = running[b];
        for (int64_t j = 0; j < nb; ++j) next[j].parent = row0 + j;
      }
      // Tiny vocabularies only: fill the K state rows with dead beams that never expand.
      while (int64_t(next.size()) < K) {
        next.push_back(next.back());
        next.back().logp = -std::numeric_limits<double>::infinity();
      }
      running[b] = std::move(next);
      row0 += nb;
    }
    const bool all_done = std::all_of(fin.begin(), fin.end(), [](const Finished& f) { return f.done; });
    if (all_done || step + 1 == opt.max_new_tokens) break;
    std::vector<int64_t> parents, next_tokens;
    for (const auto& beams : running)
      for (const Beam& bm : beams) {
        parents.push_back(bm.parent);
        next_tokens.push_back(bm.tokens.empty() ? 0 : bm.tokens.back());
      }
    dec.select_rows(parents);
    logits = dec.step(column(next_tokens));
  }
  GenerateResult res;
  for (int64_t b = 0; b < B; ++b) {
    if (!fin[b].done)
      for (const Beam& bm : running[b])
        if (!std::isinf(bm.logp)) add_finished(fin[b], K, penalised(bm.logp, bm.tokens.size(), opt.length_penalty), bm.tokens);
    RS_ASSERT(!fin[b].hyps.empty(), "beam search produced no hypothesis");
    res.scores.push_back(fin[b].hyps[0].first);
    res.tokens.push_back(fin[b].hyps[0].second);
  }
  return res;
}

}  // namespace

int64_t argmax_row(const Tensor& logits, int64_t r) {
  const Tensor row = logits.select(0, r).to(DType::f32).contiguous().to(Device::cpu());
  const float* p = row.data<float>();
  int64_t best = 0;
  for (int64_t v = 1; v < row.numel(); ++v)
    if (p[v] > p[best]) best = v;
  return best;
}

int64_t sample_row(const std::vector<float>& logits_row, double temperature, double top_p, double u) {
  const int64_t V = int64_t(logits_row.size());
  double m = -std::numeric_limits<double>::infinity();
  for (float v : logits_row) m = std::max(m, double(v) / temperature);
  std::vector<double> p(V);
  double s = 0.0;
  for (int64_t v = 0; v < V; ++v) s += (p[v] = std::exp(double(logits_row[v]) / temperature - m));
  std::vector<int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  // Nucleus: the most probable tokens until their mass reaches top_p (always at least one).
  int64_t n = V;
  if (top_p < 1.0) {
    double acc = 0.0;
    for (n = 0; n < V;) {
      acc += p[order[n++]] / s;
      if (acc >= top_p) break;
    }
  }
  double mass = 0.0;
  for (int64_t i = 0; i < n; ++i) mass += p[order[i]];
  double target = u * mass, acc = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    acc += p[order[i]];
    if (target < acc) return order[i];
  }
  return order[n - 1];
}

GenerateResult generate_from_logits(Decoder& decoder, Tensor first_logits, const GenerateOptions& opt) {
  RS_CHECK(first_logits.dim() == 2, ShapeError, "generate", "first logits must be [B, V], got ",
           format_shape(first_logits.shape()));
  RS_CHECK(opt.max_new_tokens >= 0, ValueError, "generate", "max_new_tokens must be >= 0");
  if (opt.max_new_tokens == 0) {
    GenerateResult r;
    r.tokens.assign(first_logits.shape()[0], {});
    r.scores.assign(first_logits.shape()[0], 0.0);
    return r;
  }
  if (opt.strategy == DecodeStrategy::beam) return generate_beam(decoder, std::move(first_logits), opt);
  return generate_simple(decoder, std::move(first_logits), opt);
}

GenerateResult generate(Decoder& decoder, const Tensor& prompt_ids, const GenerateOptions& opt) {
  RS_CHECK(prompt_ids.dim() == 2 && prompt_ids.shape()[1] >= 1, ShapeError, "generate",
           "prompt ids must be [B, T] with T >= 1, got ", format_shape(prompt_ids.shape()));
  return generate_from_logits(decoder, decoder.step(prompt_ids.to(DType::i64)), opt);
}

}  // namespace rscapret::models
