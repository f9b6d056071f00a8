// Small text helpers shared by the caption metrics: pycocoevalcap splits (str.split() and
// split(" ")), numpy's pairwise mean (np.mean), and Java's String.hashCode (METEOR word identity).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rscapret::eval {

// Python str.split(): runs of ASCII whitespace separate words; no empty words.
std::vector<std::string> split_ws(std::string_view s);

// Python s.split(" "): single-space separators; "" -> {""}.
std::vector<std::string> split_space(std::string_view s);

// np.mean of a float64 vector: numpy's pairwise summation, then / n (bit-identical to numpy).
double np_mean(const std::vector<double>& v);

// java.lang.String.hashCode() of the UTF-16 form of a UTF-8 string.
int32_t java_hash(std::string_view utf8);

}  // namespace rscapret::eval
