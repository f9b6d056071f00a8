#include "eval/meteor_normalizer.h"

#include <regex>
#include <vector>

namespace rscapret::eval {

namespace {

std::wstring widen(std::string_view s) {  // UTF-8 -> UTF-32 (wchar_t is 32-bit on Linux)
  std::wstring out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    out += static_cast<wchar_t>(cp);
    i += len;
  }
  return out;
}

std::string narrow(const std::wstring& s) {
  std::string out;
  for (wchar_t wc : s) {
    uint32_t cp = static_cast<uint32_t>(wc);
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

// Meteor's letter ranges (Western European and Cyrillic).
#define RS_ALPHA L"A-Za-z\u0160\u017D\u0161\u017E\u0178\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u017E\u0400-\u04FF\u0500-\u0527\uA640-\uA66E\uA67E-\uA697\u1D00-\u1D7F"
#define RS_ALNUM L"0-9" RS_ALPHA

struct Patterns {
  std::wregex sep_other{L"([^" RS_ALNUM L"\\s.'`,\\-\u2018\u2019])"};
  std::wregex multi_dot{L"\\.([.]+)"};
  std::wregex multi_dot2{L"DOTMULTI\\.([^.])"};
  std::wregex comma{L"([^0-9]),([^0-9])"};
  std::wregex comma2{L"([0-9]),([^0-9])"};
  std::wregex comma3{L"([^0-9]),([0-9])"};
  std::wregex quote_norm{L"([`\u2018\u2019])"};
  std::wregex quote_norm2{L"([\u201C\u201D]|'')"};
  std::wregex rm_dash{L"([" RS_ALNUM L".])[-]([" RS_ALNUM L"])"};
  std::wregex cont_en{L"([^" RS_ALPHA L"])[']([^" RS_ALPHA L"])"};
  std::wregex cont_en2{L"([^" RS_ALPHA L"0-9])[']([" RS_ALPHA L"])"};
  std::wregex cont_en3{L"([" RS_ALPHA L"])[']([^" RS_ALPHA L"])"};
  std::wregex cont_en4{L"([" RS_ALPHA L"])[']([" RS_ALPHA L"])"};
  std::wregex cont_en5{L"([0-9])[']([s])"};
  std::wregex nbp_alpha{L"[" RS_ALPHA L"]"};
  std::wregex white{L"[ \u00A0\u2000-\u200A\u202F\u205F\u3000]+"};
};

void replace_all(std::wstring& s, std::wstring_view from, std::wstring_view to) {
  std::wstring out;
  size_t pos = 0;
  while (true) {
    size_t p = s.find(from, pos);
    if (p == std::wstring::npos) break;
    out.append(s, pos, p - pos);
    out += to;
    pos = p + from.size();
  }
  out.append(s, pos, std::wstring::npos);
  s = std::move(out);
}

wchar_t to_lower(wchar_t c) {
  if (c >= L'A' && c <= L'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

bool java_trim_char(wchar_t c) { return c <= L' '; }
bool tokenizer_delim(wchar_t c) { return c == L' ' || c == L'\t' || c == L'\n' || c == L'\r' || c == L'\f'; }

std::string finish(std::wstring w) {  // Java trim(), then toLowerCase()
  size_t b = 0, e = w.size();
  while (b < e && java_trim_char(w[b])) ++b;
  while (e > b && java_trim_char(w[e - 1])) --e;
  w = w.substr(b, e - b);
  for (auto& c : w) c = to_lower(c);
  return narrow(w);
}

}  // namespace

std::string meteor_normalize(std::string_view line, const NonbreakingPrefixes& nbp) {
  // Fast path: lower-case letters, digits and spaces pass every rule unchanged except the
  // whitespace collapse (the common case after PTB tokenization).
  bool plain = true;
  for (char c : line)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ')) { plain = false; break; }
  if (plain) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i)
      if (line[i] != ' ' || (!out.empty() && out.back() != ' ')) out += line[i];
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  }
  static const Patterns p;
  std::wstring w = L" " + widen(line) + L" ";
  w = std::regex_replace(w, p.sep_other, L" $1 ");
  w = std::regex_replace(w, p.multi_dot, L" DOTMULTI$1");
  while (w.find(L"DOTMULTI.") != std::wstring::npos) {
    w = std::regex_replace(w, p.multi_dot2, L"DOTDOTMULTI $1");
    replace_all(w, L"DOTMULTI.", L"DOTDOTMULTI");
  }
  w = std::regex_replace(w, p.comma, L"$1 , $2");
  w = std::regex_replace(w, p.comma2, L"$1 , $2");
  w = std::regex_replace(w, p.comma3, L"$1 , $2");
  w = std::regex_replace(w, p.quote_norm, L"'");
  w = std::regex_replace(w, p.quote_norm2, L" \" ");
  replace_all(w, L"\u2013", L"-");
  replace_all(w, L"--", L"-");
  w = std::regex_replace(w, p.rm_dash, L"$1 $2");
  w = std::regex_replace(w, p.cont_en, L"$1 ' $2");
  w = std::regex_replace(w, p.cont_en2, L"$1 ' $2");
  w = std::regex_replace(w, p.cont_en3, L"$1 ' $2");
  w = std::regex_replace(w, p.cont_en4, L"$1 '$2");
  w = std::regex_replace(w, p.cont_en5, L"$1 '$2");
  // Split words, then break a final '.' unless the word is a nonbreaking prefix.
  std::vector<std::wstring> words;
  for (size_t i = 0; i < w.size();) {
    while (i < w.size() && tokenizer_delim(w[i])) ++i;
    size_t j = i;
    while (j < w.size() && !tokenizer_delim(w[j])) ++j;
    if (j > i) words.push_back(w.substr(i, j - i));
    i = j;
  }
  std::wstring sb;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::wstring& word = words[i];
    if (word.size() > 1 && word.back() == L'.') {
      const std::wstring pre = word.substr(0, word.size() - 1);
      auto it = nbp.find(narrow(pre));
      const bool has_next = i + 1 < words.size();
      if (pre.find(L'.') != std::wstring::npos && std::regex_search(pre, p.nbp_alpha)) {
        std::wstring nodots;
        for (wchar_t c : word) if (c != L'.') nodots += c;
        sb += nodots;  // U.S. -> US
      } else if ((it != nbp.end() && !it->second) ||
                 (has_next && words[i + 1][0] >= L'a' && words[i + 1][0] <= L'z')) {
        sb += word;
      } else if (it != nbp.end() && it->second && has_next && words[i + 1][0] >= L'0' && words[i + 1][0] <= L'9') {
        sb += word;
      } else {
        sb += pre + L" .";
      }
    } else {
      sb += word;
    }
    sb += L' ';
  }
  while (sb.find(L"DOTDOTMULTI") != std::wstring::npos) replace_all(sb, L"DOTDOTMULTI", L"DOTMULTI.");
  replace_all(sb, L"DOTMULTI", L".");
  sb = std::regex_replace(sb, p.white, L" ");
  return finish(sb);
}

}  // namespace rscapret::eval
