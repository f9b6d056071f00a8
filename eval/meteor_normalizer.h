// METEOR 1.5's English line normalisation with punctuation kept ('-norm'), then lower-casing
// (METRICS.md §6.3; Moses-style tokenizer plus Meteor's dash/dot/quote rules).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace rscapret::eval {

// Nonbreaking prefixes (nonbreaking/english.prefixes): prefix -> true if "#NUMERIC_ONLY#".
using NonbreakingPrefixes = std::unordered_map<std::string, bool>;

// Normalised, lower-cased, single-space-separated words. Lower-casing covers ASCII, Latin-1 and
// basic Cyrillic letters (Java's toLowerCase covers all of Unicode).
std::string meteor_normalize(std::string_view line, const NonbreakingPrefixes& nbp);

}  // namespace rscapret::eval
