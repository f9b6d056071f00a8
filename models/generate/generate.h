// Autoregressive generation, written against a Decoder (a causal LM with its KV cache) so the
// same strategies run LLaMA from token ids or RS-CapRet from a visual prefix.
//
// Strategies: greedy (argmax, first maximum on ties), sampling (temperature, top-p, a seed;
// deterministic: the same seed gives the same tokens), and beam search with a length penalty
// (a finished hypothesis scores sum(log p) / n^length_penalty, n = its number of generated tokens
// including the stop token, as Hugging Face does; search stops for a row once num_beams
// hypotheses are finished and no running beam can beat the worst of them).
// A row stops after it emits a stop token (kept in the output); generation ends when every row
// has stopped or max_new_tokens were generated.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace rscapret::models {

// What generation needs from a model. Rows are the batch rows of its cached state.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Appends ids (i64 [R, T]) to each row's sequence; returns the logits of the last new position,
  // f32 [R, V].
  virtual Tensor step(const Tensor& ids) = 0;
  // Rebuilds the cached state so that new row i continues old row rows[i] (rows may repeat).
  virtual void select_rows(const std::vector<int64_t>& rows) = 0;
};

enum class DecodeStrategy { greedy, sample, beam };

struct GenerateOptions {
  DecodeStrategy strategy = DecodeStrategy::greedy;
  int64_t max_new_tokens = 32;
  std::vector<int64_t> stop_tokens;  // e.g. the EOS id; empty: never stop early
  // sampling
  double temperature = 1.0;  // <= 0 means greedy
  double top_p = 1.0;        // nucleus: the smallest set of tokens whose probability reaches top_p
  uint64_t seed = 0;
  // beam search
  int64_t num_beams = 4;
  double length_penalty = 1.0;
  // Called on every step's logits [R, V] before choosing (e.g. to forbid [RET] with -inf).
  std::function<void(Tensor& logits)> logits_processor;
};

struct GenerateResult {
  std::vector<std::vector<int64_t>> tokens;  // per batch row: the new tokens (prompt not included)
  std::vector<double> scores;                // beam: the best hypothesis' score; others: sum log p
};

// Feeds the prompt (i64 [B, T]) and generates.
GenerateResult generate(Decoder& decoder, const Tensor& prompt_ids, const GenerateOptions& opt);
// Generates from the logits of the prompt's last position ([B, V]), when the caller fed the prompt
// itself (e.g. as embeddings).
GenerateResult generate_from_logits(Decoder& decoder, Tensor first_logits, const GenerateOptions& opt);

// Exposed for tests: index of the first maximum of row r of logits [R, V].
int64_t argmax_row(const Tensor& logits, int64_t r);
// One draw from softmax(logits_row / temperature) restricted to the top-p nucleus; u in [0, 1).
int64_t sample_row(const std::vector<float>& logits_row, double temperature, double top_p, double u);

}  // namespace rscapret::models
