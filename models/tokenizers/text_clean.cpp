#include "models/tokenizers/text_clean.h"

#include <algorithm>
#include <cstdint>
#include <cctype>
#include <cstring>
#include <vector>

#include "models/tokenizers/unicode.h"

namespace rscapret::tokenizers {
namespace {

struct Entity { const char* name; uint32_t cp; };
// Named entities we unescape (sorted by name). Python knows all of HTML5's; these cover what
// captions and scraped alt text use.
constexpr Entity kEntities[] = {
    {"AMP", '&'}, {"GT", '>'}, {"LT", '<'}, {"QUOT", '"'}, {"amp", '&'}, {"apos", '\''},
    {"bull", 0x2022}, {"cent", 0xA2}, {"copy", 0xA9}, {"deg", 0xB0}, {"eacute", 0xE9},
    {"euro", 0x20AC}, {"gt", '>'}, {"hellip", 0x2026}, {"laquo", 0xAB}, {"ldquo", 0x201C},
    {"lsquo", 0x2018}, {"lt", '<'}, {"mdash", 0x2014}, {"middot", 0xB7}, {"nbsp", 0xA0},
    {"ndash", 0x2013}, {"pound", 0xA3}, {"quot", '"'}, {"raquo", 0xBB}, {"rdquo", 0x201D},
    {"reg", 0xAE}, {"rsquo", 0x2019}, {"sup2", 0xB2}, {"times", 0xD7}, {"trade", 0x2122},
    {"yen", 0xA5},
};
// HTML5 names that also match without ';' (a subset of Python's legacy list).
constexpr const char* kLegacy[] = {"AMP", "GT", "LT", "QUOT", "amp", "cent", "copy", "deg",
                                   "eacute", "gt", "laquo", "lt", "middot", "nbsp", "pound",
                                   "quot", "raquo", "reg", "sup2", "times", "yen"};

int find_entity(std::string_view name) {
  for (size_t i = 0; i < std::size(kEntities); ++i)
    if (name == kEntities[i].name) return static_cast<int>(i);
  return -1;
}
bool is_legacy(std::string_view name) {
  for (const char* l : kLegacy)
    if (name == l) return true;
  return false;
}

// Python html._replace_charref for numeric references.
void append_charref(std::string& out, uint64_t num) {
  static constexpr uint16_t kCp1252[32] = {
      0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160,
      0x2039, 0x152, 0x8D, 0x17D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
      0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178};
  if (num == 0) { utf8_append(out, kReplacementChar); return; }
  if (num == 0x0D) { out.push_back('\r'); return; }
  if (num >= 0x80 && num <= 0x9F) { utf8_append(out, kCp1252[num - 0x80]); return; }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { utf8_append(out, kReplacementChar); return; }
  const auto cp = static_cast<uint32_t>(num);
  const bool invalid = (cp >= 0x1 && cp <= 0x8) || cp == 0xB || (cp >= 0xE && cp <= 0x1F) ||
                       (cp >= 0x7F && cp <= 0x9F) || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
                       (cp & 0xFFFE) == 0xFFFE;
  if (invalid) return;  // Python drops these
  utf8_append(out, cp);
}

}  // namespace

std::string html_unescape(std::string_view s) {
  if (s.find('&') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') { out.push_back(s[i++]); continue; }
    // Numeric: &#123; &#x7B; (';' optional).
    if (i + 1 < s.size() && s[i + 1] == '#') {
      size_t j = i + 2;
      const bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
      if (hex) ++j;
      const size_t d0 = j;
      uint64_t num = 0;
      while (j < s.size() && (hex ? std::isxdigit(static_cast<unsigned char>(s[j])) : std::isdigit(static_cast<unsigned char>(s[j])))) {
        const char c = s[j];
        const uint64_t d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        num = std::min<uint64_t>(num * (hex ? 16 : 10) + d, 0x7FFFFFFF);
        ++j;
      }
      if (j > d0) {
        if (j < s.size() && s[j] == ';') ++j;
        append_charref(out, num);
        i = j;
        continue;
      }
      out.push_back(s[i++]);
      continue;
    }
    // Named: up to 32 characters that are not whitespace, '<', '&', '#' or ';'.
    size_t j = i + 1;
    while (j < s.size() && j - i - 1 < 32 && !std::strchr("\t\n\f <&#;", s[j])) ++j;
    const std::string_view name = s.substr(i + 1, j - i - 1);
    const bool semi = j < s.size() && s[j] == ';';
    const int e = find_entity(name);
    if (semi && e >= 0) {
      utf8_append(out, kEntities[e].cp);
      i = j + 1;
      continue;
    }
    // Without ';' (or unknown with ';'): the longest legacy name that prefixes it.
    bool done = false;
    for (size_t len = std::min<size_t>(name.size(), 6); len >= 2 && !done; --len) {
      const std::string_view pre = name.substr(0, len);
      if (is_legacy(pre)) {
        utf8_append(out, kEntities[find_entity(pre)].cp);
        i = i + 1 + len;
        done = true;
      }
    }
    if (!done) out.push_back(s[i++]);
  }
  return out;
}

std::string ftfy_fix_subset(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    i += utf8_next(s, i, &cp);
    // remove_control_chars
    if (cp <= 0x08 || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F ||
        (cp >= 0x206A && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFC) ||
        (cp >= 0x1D173 && cp <= 0x1D17A) || (cp >= 0xE0000 && cp <= 0xE007F))
      continue;
    // uncurl_quotes
    if (cp == 0x02BC || (cp >= 0x2018 && cp <= 0x201B)) { out.push_back('\''); continue; }
    if (cp >= 0x201C && cp <= 0x201F) { out.push_back('"'); continue; }
    // fix_latin_ligatures
    switch (cp) {
      case 0xFB00: out += "ff"; continue;
      case 0xFB01: out += "fi"; continue;
      case 0xFB02: out += "fl"; continue;
      case 0xFB03: out += "ffi"; continue;
      case 0xFB04: out += "ffl"; continue;
      case 0xFB05: out += "\xC5\xBFt"; continue;  // "ſt"
      case 0xFB06: out += "st"; continue;
      case 0x0132: out += "IJ"; continue;
      case 0x0133: out += "ij"; continue;
      default: break;
    }
    // fix_character_width: full-width ASCII and the ideographic space.
    if (cp >= 0xFF01 && cp <= 0xFF5E) { out.push_back(static_cast<char>(cp - 0xFEE0)); continue; }
    if (cp == 0x3000) { out.push_back(' '); continue; }
    utf8_append(out, cp);
  }
  return out;
}

std::string clip_clean_text(std::string_view text) {
  // ftfy's unescape_html="auto": entities are decoded first unless the text looks like HTML.
  std::string s = text.find('<') == std::string_view::npos ? html_unescape(utf8_sanitize(text))
                                                           : utf8_sanitize(text);
  s = ftfy_fix_subset(s);
  s = html_unescape(html_unescape(s));
  // whitespace_clean (its strip() also covers basic_clean's) and lower(), in one pass.
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  bool pending_space = false;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    i += utf8_next(s, i, &cp);
    if (is_space(cp)) { pending_space = !cps.empty(); continue; }
    if (pending_space) { cps.push_back(' '); pending_space = false; }
    cps.push_back(cp);
  }
  std::string out;
  out.reserve(s.size());
  for (size_t k = 0; k < cps.size(); ++k) {
    const uint32_t cp = cps[k];
    if (cp == 0x0130) { out += "i\xCC\x87"; continue; }  // str.lower(): İ -> i + U+0307
    if (cp == 0x03A3) {  // final sigma: after a letter and not before one
      const bool after = k > 0 && is_letter(cps[k - 1]);
      const bool before = k + 1 < cps.size() && is_letter(cps[k + 1]);
      utf8_append(out, after && !before ? 0x03C2 : 0x03C3);
      continue;
    }
    utf8_append(out, to_lower(cp));
  }
  return out;
}

}  // namespace rscapret::tokenizers
