// A set of captioned images as every caption scorer takes it: one candidate and >= 1 reference per
// image, already PTB-tokenized (see ptb_tokenizer.h), in image order.
#pragma once

#include <string>
#include <vector>

namespace rscapret::eval {

struct CaptionCorpus {
  std::vector<std::string> candidates;               // (N) one tokenized candidate per image
  std::vector<std::vector<std::string>> references;  // (N, m_i) tokenized references
  size_t size() const { return candidates.size(); }
};

// Corpus score and per-image scores of one metric.
struct MetricScores {
  double corpus = 0.0;
  std::vector<double> images;
};

// Throws ValueError (naming `metric`) unless every image has one candidate and >= 1 reference.
void check_corpus(const CaptionCorpus& c, const char* metric);

}  // namespace rscapret::eval
