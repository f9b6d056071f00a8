#include "eval/meteor_data.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace rscapret::eval {

namespace fs = std::filesystem;

namespace {
std::ifstream open_or_throw(const std::string& path) {
  std::ifstream f(path);
  RS_CHECK(f.good(), IOError, "meteor", "cannot read ", path);
  return f;
}

template <typename F>
void for_each_token(std::string_view line, F&& f) {  // java.util.StringTokenizer defaults
  size_t i = 0;
  auto delim = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; };
  while (i < line.size()) {
    while (i < line.size() && delim(line[i])) ++i;
    size_t j = i;
    while (j < line.size() && !delim(line[j])) ++j;
    if (j > i) f(line.substr(i, j - i));
    i = j;
  }
}
}  // namespace

void SynonymDictionary::load(const std::string& exceptions_file, const std::string& synsets_file) {
  auto exc = open_or_throw(exceptions_file);
  std::string base, line;
  while (std::getline(exc, base) && std::getline(exc, line))
    for_each_token(line, [&](std::string_view form) { bases_[std::string(form)].push_back(base); });
  auto syn = open_or_throw(synsets_file);
  std::string word;
  while (std::getline(syn, word) && std::getline(syn, line)) {
    std::vector<int32_t> ids;
    for_each_token(line, [&](std::string_view t) { ids.push_back(std::stoi(std::string(t))); });
    synsets_[word] = std::move(ids);  // a repeated word replaces the earlier line (Hashtable.put)
  }
}

const std::vector<int32_t>* SynonymDictionary::synsets(const std::string& word) const {
  auto it = synsets_.find(word);
  return it == synsets_.end() ? nullptr : &it->second;
}

// Meteor's WordNet-style detachment: the first rule whose suffix matches and whose result is a
// synset key. (The "ful" branch of the Java code has no effect: no rule's suffix ends in 'l'.)
std::string SynonymDictionary::morph(const std::string& word) const {
  static const char* sufx[] = {"s", "ses", "xes", "zes", "ches", "shes", "men", "ies", "s", "ies",
                               "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"};
  static const char* addr[] = {"", "s", "x", "z", "ch", "sh", "man", "y", "", "y",
                               "e", "", "e", "", "e", "", "", "", "e", "e"};
  if ((word.size() >= 2 && word.compare(word.size() - 2, 2, "ss") == 0) || word.size() <= 2) return word;
  for (int i = 0; i < 20; ++i) {
    const std::string_view s = sufx[i];
    if (word.size() >= s.size() && word.compare(word.size() - s.size(), s.size(), s) == 0) {
      std::string r = word.substr(0, word.size() - s.size()) + addr[i];
      if (synsets_.count(r)) return r;
    }
  }
  return "";
}

std::vector<int32_t> SynonymDictionary::word_sets(const std::string& word) const {
  std::vector<int32_t> out;
  if (auto* s = synsets(word)) out = *s;
  auto it = bases_.find(word);
  if (it != bases_.end()) {
    for (const auto& b : it->second)
      if (auto* s = synsets(b)) out.insert(out.end(), s->begin(), s->end());
  } else if (auto* s = synsets(morph(word))) {
    out.insert(out.end(), s->begin(), s->end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void ParaphraseTable::load(const std::string& gz_file, const StringSet& vocab) {
  gzFile gz = gzopen(gz_file.c_str(), "rb");
  RS_CHECK(gz != nullptr, IOError, "meteor", "cannot open paraphrase table ", gz_file);
  gzbuffer(gz, 1 << 20);
  emits_.assign(1, {});
  std::vector<char> buf(1 << 20);
  std::string carry;
  std::string_view rec[3];
  int nrec = 0;
  std::vector<int32_t> ref, par;
  auto words_known = [&](std::string_view line) {
    bool ok = true;
    for_each_token(line, [&](std::string_view t) { ok = ok && vocab.find(t) != vocab.end(); });
    return ok;
  };
  auto map = [&](std::string_view line, std::vector<int32_t>& out) {
    out.clear();
    for_each_token(line, [&](std::string_view t) {
      auto [it, fresh] = vocab_.emplace(std::string(t), static_cast<int32_t>(vocab_.size()));
      out.push_back(it->second);
    });
  };
  std::string saved[3];
  auto on_line = [&](std::string_view line) {
    saved[nrec] = std::string(line);
    rec[nrec] = saved[nrec];
    if (++nrec < 3) return;
    nrec = 0;
    if (!words_known(rec[1]) || !words_known(rec[2])) return;
    map(rec[1], ref);
    map(rec[2], par);
    int32_t node = 0;
    for (int32_t w : ref) {
      const uint64_t key = (static_cast<uint64_t>(node) << 32) | static_cast<uint32_t>(w);
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, static_cast<int32_t>(emits_.size())).first;
        emits_.emplace_back();
      }
      node = it->second;
    }
    emits_[node].push_back(static_cast<int32_t>(paraphrases_.size()));
    paraphrases_.push_back(par);
  };
  while (true) {
    const int n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()));
    RS_CHECK(n >= 0, FormatError, "meteor", "corrupt paraphrase table ", gz_file);
    if (n == 0) break;
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    size_t start = 0;
    while (true) {
      const size_t nl = chunk.find('\n', start);
      if (nl == std::string_view::npos) {
        carry.append(chunk.substr(start));
        break;
      }
      if (carry.empty()) {
        on_line(chunk.substr(start, nl - start));
      } else {
        carry.append(chunk.substr(start, nl - start));
        on_line(carry);
        carry.clear();
      }
      start = nl + 1;
    }
  }
  if (!carry.empty()) on_line(carry);
  gzclose(gz);
}

int32_t ParaphraseTable::translate(const std::string& w) const {
  auto it = vocab_.find(w);
  return it == vocab_.end() ? -1 : it->second;
}

void ParaphraseTable::paths(const std::vector<int32_t>& words, size_t start, std::vector<int32_t>& out) const {
  out.clear();
  int32_t node = 0;
  for (size_t i = start; i < words.size(); ++i) {
    if (words[i] < 0) break;
    auto it = edges_.find((static_cast<uint64_t>(node) << 32) | static_cast<uint32_t>(words[i]));
    if (it == edges_.end()) break;
    node = it->second;
    for (int32_t e : emits_[node]) {
      out.push_back(static_cast<int32_t>(i - start + 1));
      out.push_back(e);
    }
  }
}

std::shared_ptr<MeteorData> MeteorData::load(const std::string& dir, const std::string& paraphrase_file) {
  auto d = std::make_shared<MeteorData>();
  const fs::path root(dir);
  auto fw = open_or_throw((root / "function" / "english.words").string());
  std::string line;
  while (std::getline(fw, line)) d->function_words.insert(line);
  d->synonyms.load((root / "synonym" / "english.exceptions").string(), (root / "synonym" / "english.synsets").string());
  std::ifstream nb(root / "nonbreaking" / "english.prefixes");
  while (std::getline(nb, line)) {
    std::istringstream is(line);
    std::string pre, type;
    if (!(is >> pre) || pre[0] == '#') continue;
    d->nonbreaking[pre] = (is >> type) && type == "#NUMERIC_ONLY#";
  }
  if (!paraphrase_file.empty()) {
    RS_CHECK(fs::exists(paraphrase_file), IOError, "meteor", "paraphrase table not found: ", paraphrase_file);
    d->paraphrase_file = paraphrase_file;
  } else {
    for (const auto& p : {root / "paraphrase-en.gz", root / "data" / "paraphrase-en.gz"})
      if (fs::exists(p)) {
        d->paraphrase_file = p.string();
        break;
      }
  }
  return d;
}

std::string find_meteor_data(std::string* why) {
  auto ok = [](const fs::path& p) { return fs::exists(p / "function" / "english.words"); };
  if (const char* env = std::getenv("RSCAPRET_METEOR_DATA")) {
    if (ok(env)) return env;
    if (why) *why = std::string("RSCAPRET_METEOR_DATA=") + env + " has no function/english.words";
    return "";
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && ok(exe.parent_path() / "meteor-data")) return (exe.parent_path() / "meteor-data").string();
  if (why)
    *why = "no METEOR data: give --meteor-data DIR or set RSCAPRET_METEOR_DATA (a folder with function/, "
           "synonym/ and optionally paraphrase-en.gz), or put it in meteor-data/ next to the program";
  return "";
}

}  // namespace rscapret::eval
