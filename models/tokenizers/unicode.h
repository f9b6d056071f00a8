// UTF-8 helpers and the Unicode classes the tokenizers need (letters, numbers, whitespace, lower).
// The class tables are generated from Python's `regex` module and str.lower() by
// gen_unicode_tables.py, because CLIP's reference tokenizer is defined by exactly those.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rscapret::tokenizers {

struct CodepointRange { uint32_t lo, hi; };    // inclusive
struct CodepointPair { uint32_t from, to; };

constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes the code point at s[i] (i < s.size()). Returns how many bytes it used. A malformed or
// truncated sequence uses 1 byte and yields U+FFFD with *valid = false.
size_t utf8_next(std::string_view s, size_t i, uint32_t* cp, bool* valid = nullptr);
// Length of a well-formed sequence at s[i], or 0 when the bytes there are not one.
size_t utf8_valid_length(std::string_view s, size_t i);
void utf8_append(std::string& out, uint32_t cp);
bool utf8_is_valid(std::string_view s);
// Copies s, replacing each maximal ill-formed subsequence by U+FFFD (what Python's
// bytes.decode("utf-8", errors="replace") does).
std::string utf8_sanitize(std::string_view s);

bool is_letter(uint32_t cp);  // \p{L}
bool is_number(uint32_t cp);  // \p{N}
bool is_space(uint32_t cp);   // regex \s (Unicode White_Space)
// Simple one-to-one lowercase (str.lower() minus its one 1->2 mapping, U+0130, handled by callers).
uint32_t to_lower(uint32_t cp);

namespace unicode_detail {
extern const CodepointRange kLetterRanges[];
extern const size_t kLetterRanges_count;
extern const CodepointRange kNumberRanges[];
extern const size_t kNumberRanges_count;
extern const CodepointRange kSpaceRanges[];
extern const size_t kSpaceRanges_count;
extern const CodepointPair kLowerPairs[];
extern const size_t kLowerPairs_count;
}  // namespace unicode_detail

}  // namespace rscapret::tokenizers
