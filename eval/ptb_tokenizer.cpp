#include "eval/ptb_tokenizer.h"

#include <algorithm>
#include <array>
#include <vector>

namespace rscapret::eval {

namespace {

// The wrapper's drop list (pycocoevalcap PUNCTUATIONS), compared after lower-casing as the wrapper
// does; the upper-case bracket names therefore never match (-lrb- survives).
constexpr std::array<std::string_view, 17> kDropped = {
    "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Unicode quotes, dashes and ellipsis as PTBTokenizer's default (latexQuotes, ptb3Dashes,
// ptb3Ellipsis) normalises them; &amp; -> &.
std::string normalize_chars(std::string_view s) {
  static const std::array<std::pair<std::string_view, std::string_view>, 10> kMap = {{
      {"\u201c", "\""}, {"\u201d", "\""}, {"\u2018", "'"}, {"\u2019", "'"}, {"\u2026", " ... "},
      {"\u2013", " -- "}, {"\u2014", " -- "}, {"&amp;", "&"}, {"\u00a0", " "}, {"\u2009", " "}}};
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    bool hit = false;
    for (const auto& [from, to] : kMap)
      if (s.compare(i, from.size(), from) == 0) {
        out += to;
        i += from.size();
        hit = true;
        break;
      }
    if (!hit) out += s[i++];
  }
  return out;
}

std::string lower(std::string s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 'A' && c <= 'Z') {
      s[i] = static_cast<char>(c + 32);
    } else if (c == 0xC3 && i + 1 < s.size()) {  // Latin-1 upper case U+00C0..U+00DE except U+00D7
      unsigned char d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0x9E && d != 0x97) s[i + 1] = static_cast<char>(d + 0x20);
      ++i;
    }
  }
  return s;
}

// (x.)+ : a dotted abbreviation such as u.s. or e.g. keeps its final period.
bool is_dotted_abbrev(std::string_view w) {
  if (w.size() < 2 || w.size() % 2) return false;
  for (size_t i = 0; i < w.size(); i += 2)
    if (!is_alpha(w[i]) || w[i + 1] != '.') return false;
  return true;
}

bool is_clitic(std::string_view lw) {
  return lw == "'s" || lw == "'re" || lw == "'ve" || lw == "'ll" || lw == "'d" || lw == "'m" || lw == "n't";
}

std::string_view bracket_open(char c) { return c == '(' ? "-LRB-" : c == '[' ? "-LSB-" : "-LCB-"; }
std::string_view bracket_close(char c) { return c == ')' ? "-RRB-" : c == ']' ? "-RSB-" : "-RCB-"; }

// Splits the core of a word at inner commas/semicolons (not between digits) and a trailing clitic.
void emit_core(std::string w, std::vector<std::string>& out) {
  for (size_t i = 1; i + 1 < w.size(); ++i)
    if ((w[i] == ',' && !(is_digit(w[i - 1]) && is_digit(w[i + 1]))) || w[i] == ';') {
      emit_core(w.substr(0, i), out);
      out.emplace_back(1, w[i]);
      emit_core(w.substr(i + 1), out);
      return;
    }
  if (w.empty()) return;
  const std::string lw = lower(w);
  for (std::string_view cl : {"n't", "'s", "'re", "'ve", "'ll", "'d", "'m"}) {
    if (lw.size() > cl.size() && lw.compare(lw.size() - cl.size(), cl.size(), cl) == 0) {
      out.push_back(w.substr(0, w.size() - cl.size()));
      out.push_back(w.substr(w.size() - cl.size()));
      return;
    }
  }
  out.push_back(std::move(w));
}

void emit_word(std::string w, std::vector<std::string>& out) {
  // "--" inside a word separates it; '*' is always its own token.
  for (std::string_view sep : {"--", "*"}) {
    const size_t p = w.find(sep);
    if (p != std::string::npos && w.size() > sep.size()) {
      if (p > 0) emit_word(w.substr(0, p), out);
      out.emplace_back(sep);
      if (p + sep.size() < w.size()) emit_word(w.substr(p + sep.size()), out);
      return;
    }
  }
  if (w == "--" || w == "*" || w == "...") {
    out.push_back(w);
    return;
  }
  if (is_clitic(lower(w))) {
    out.push_back(w);
    return;
  }
  // Leading punctuation.
  while (w.size() > 1) {
    const char c = w[0];
    if (c == '(' || c == '[' || c == '{') out.emplace_back(bracket_open(c));
    else if (c == '"') out.emplace_back("``");
    else if (c == '\'' || c == '`') out.emplace_back("`");
    else if (c == '$' || c == '#') out.emplace_back(1, c);
    else break;
    w.erase(0, 1);
    if (is_clitic(lower(w))) break;
  }
  // Trailing punctuation, collected right to left.
  std::vector<std::string> tail;
  while (!w.empty()) {
    const char c = w.back();
    const size_t n = w.size();
    if (n == 1 && !(c == ')' || c == ']' || c == '}' || c == '"')) break;
    if (n >= 3 && w.compare(n - 3, 3, "...") == 0) {
      tail.emplace_back("...");
      w.resize(n - 3);
    } else if (c == '!' || c == '?') {
      size_t k = n;
      while (k > 0 && (w[k - 1] == '!' || w[k - 1] == '?')) --k;
      tail.push_back(w.substr(k));
      w.resize(k);
    } else if (c == ')' || c == ']' || c == '}') {
      tail.emplace_back(bracket_close(c));
      w.pop_back();
    } else if (c == '"') {
      tail.emplace_back("''");
      w.pop_back();
    } else if (c == ',' || c == ';' || c == ':' || c == '%' || c == '&' || c == '\'' || c == '-') {
      if (c == '\'' && is_clitic(lower(w))) break;
      tail.emplace_back(1, c);
      w.pop_back();
    } else if (c == '.') {
      if (is_dotted_abbrev(w)) break;
      tail.emplace_back(".");
      w.pop_back();
    } else {
      break;
    }
  }
  if (!w.empty()) {
    if (w.size() == 1 || is_clitic(lower(w))) out.push_back(w);
    else emit_core(w, out);
  }
  out.insert(out.end(), tail.rbegin(), tail.rend());
}

}  // namespace

std::string ptb_tokenize(std::string_view caption) {
  const std::string text = normalize_chars(caption);
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !is_space(text[j])) ++j;
    if (j > i) emit_word(text.substr(i, j - i), tokens);
    i = j;
  }
  std::string out;
  for (auto& t : tokens) {
    const std::string lt = lower(t);  // -lowerCase acts before the wrapper's filter
    if (std::find(kDropped.begin(), kDropped.end(), lt) != kDropped.end()) continue;
    if (!out.empty()) out += ' ';
    out += lt;
  }
  return out;
}

}  // namespace rscapret::eval
