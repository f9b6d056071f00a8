#include "eval/caption_corpus.h"

#include "tensor/error.h"

namespace rscapret::eval {

void check_corpus(const CaptionCorpus& c, const char* metric) {
  RS_CHECK(c.candidates.size() == c.references.size(), ValueError, metric, c.candidates.size(),
           " candidates but ", c.references.size(), " reference lists");
  RS_CHECK(!c.candidates.empty(), ValueError, metric, "no images to score");
  for (size_t i = 0; i < c.references.size(); ++i)
    RS_CHECK(!c.references[i].empty(), ValueError, metric, "image #", i, " has no reference");
}

}  // namespace rscapret::eval
