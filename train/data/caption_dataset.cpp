#include "train/data/caption_dataset.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace rscapret::data {

namespace {

using json = nlohmann::json;

// root/rel, or the same stem with another image extension when that file is absent.
std::filesystem::path resolve_image(const std::filesystem::path& root, const std::filesystem::path& rel) {
  const std::filesystem::path p = root / rel;
  std::error_code ec;
  if (std::filesystem::exists(p, ec)) return p;
  static const char* kExts[] = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp",
                                ".PNG", ".JPG", ".JPEG", ".TIF", ".TIFF", ".BMP"};
  for (const char* ext : kExts) {
    std::filesystem::path alt = p;
    alt.replace_extension(ext);
    if (alt != p && std::filesystem::exists(alt, ec)) return alt;
  }
  return p;
}

bool keep_split(const std::string& split, const std::vector<std::string>& splits) {
  return splits.empty() || std::find(splits.begin(), splits.end(), split) != splits.end();
}

std::string get_string(const json& e, const char* key, const std::string& where) {
  auto it = e.find(key);
  RS_CHECK(it != e.end(), FormatError, "caption_dataset", where, ": missing \"", key, "\"");
  RS_CHECK(it->is_string(), FormatError, "caption_dataset", where, ": \"", key, "\" is not a string");
  return it->get<std::string>();
}

// The "filename" of an entry; FormatError when it names no file ("", "dir/", ".", "..").
std::filesystem::path get_file_name(const json& e, const std::string& where) {
  const std::string name = get_string(e, "filename", where);
  const std::filesystem::path last = std::filesystem::path(name).filename();
  RS_CHECK(!last.empty() && last != "." && last != "..", FormatError, "caption_dataset", where, ": \"filename\" \"",
           name, "\" names no file");
  return name;
}

int64_t get_imgid(const json& e, int64_t fallback, const std::string& where) {
  auto it = e.find("imgid");
  if (it == e.end()) return fallback;
  RS_CHECK(it->is_number_integer(), FormatError, "caption_dataset", where, ": \"imgid\" is not an integer");
  return it->get<int64_t>();
}

// One Karpathy "images" entry.
CaptionSample karpathy_sample(const json& e, const std::filesystem::path& root, int64_t index,
                              const std::string& where) {
  RS_CHECK(e.is_object(), FormatError, "caption_dataset", where, ": not an object");
  CaptionSample s;
  std::filesystem::path rel = get_file_name(e, where);
  if (auto fp = e.find("filepath"); fp != e.end() && fp->is_string()) rel = std::filesystem::path(fp->get<std::string>()) / rel;
  s.split = get_string(e, "split", where);
  s.image_id = get_imgid(e, index, where);
  auto sents = e.find("sentences");
  RS_CHECK(sents != e.end() && sents->is_array(), FormatError, "caption_dataset", where,
           ": missing \"sentences\" array");
  for (size_t j = 0; j < sents->size(); ++j) {
    const json& sent = (*sents)[j];
    const std::string w = cat(where, ".sentences[", j, "]");
    RS_CHECK(sent.is_object(), FormatError, "caption_dataset", w, ": not an object");
    s.captions.push_back(get_string(sent, "raw", w));
    std::vector<std::string> toks;
    if (auto t = sent.find("tokens"); t != sent.end()) {
      RS_CHECK(t->is_array(), FormatError, "caption_dataset", w, ": \"tokens\" is not an array");
      for (const json& tok : *t) {
        RS_CHECK(tok.is_string(), FormatError, "caption_dataset", w, ": a token is not a string");
        toks.push_back(tok.get<std::string>());
      }
    }
    s.tokens.push_back(std::move(toks));
  }
  RS_CHECK(!s.captions.empty(), FormatError, "caption_dataset", where, " (", rel.string(), "): no captions");
  s.image_path = resolve_image(root, rel);
  return s;
}

// NWPU-Captions' class-keyed entry: "raw", "raw_1", ... "raw_4"; images in root/<class>/.
CaptionSample nwpu_sample(const json& e, const std::string& cls, const std::filesystem::path& root,
                          int64_t index, const std::string& where) {
  RS_CHECK(e.is_object(), FormatError, "caption_dataset", where, ": not an object");
  CaptionSample s;
  const std::string filename = get_file_name(e, where).string();
  s.split = get_string(e, "split", where);
  s.image_id = get_imgid(e, index, where);
  for (int j = 0; j < 16; ++j) {
    const std::string key = j == 0 ? "raw" : cat("raw_", j);
    auto it = e.find(key);
    if (it == e.end()) continue;
    RS_CHECK(it->is_string(), FormatError, "caption_dataset", where, ": \"", key, "\" is not a string");
    s.captions.push_back(it->get<std::string>());
    s.tokens.emplace_back();
  }
  RS_CHECK(!s.captions.empty(), FormatError, "caption_dataset", where, " (", filename, "): no captions");
  s.image_path = resolve_image(root / cls, filename);
  return s;
}

}  // namespace

CaptionSource parse_caption_source(const std::string& spec) {
  CaptionSource src;
  std::string rest = spec;
  if (auto eq = rest.find('='); eq != std::string::npos) {
    src.name = rest.substr(0, eq);
    rest = rest.substr(eq + 1);
  }
  const auto colon = rest.rfind(':');
  RS_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < rest.size(), ValueError,
           "parse_caption_source", "expected [NAME=]JSON:IMAGE_ROOT, got \"", spec, "\"");
  src.json = rest.substr(0, colon);
  src.image_root = rest.substr(colon + 1);
  return src;
}

CaptionDataset CaptionDataset::parse(const std::string& text, const std::filesystem::path& root,
                                     const std::string& origin, const std::string& name,
                                     const std::vector<std::string>& splits) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw FormatError(cat("[caption_dataset] ", origin, ": malformed JSON: ", e.what()));
  }
  RS_CHECK(doc.is_object(), FormatError, "caption_dataset", origin, ": the top level is not an object");
  CaptionDataset ds;
  std::string dataset_name = name;
  if (dataset_name.empty()) {
    if (auto d = doc.find("dataset"); d != doc.end() && d->is_string()) dataset_name = d->get<std::string>();
    else dataset_name = std::filesystem::path(origin).stem().string();
  }
  if (auto images = doc.find("images"); images != doc.end()) {
    RS_CHECK(images->is_array(), FormatError, "caption_dataset", origin, ": \"images\" is not an array");
    for (size_t i = 0; i < images->size(); ++i) {
      CaptionSample s = karpathy_sample((*images)[i], root, int64_t(i), cat(origin, ": images[", i, "]"));
      if (!keep_split(s.split, splits)) continue;
      s.dataset = dataset_name;
      ds.samples_.push_back(std::move(s));
    }
    return ds;
  }
  // NWPU layout: every top-level value an array of entries with "raw".
  bool nwpu = !doc.empty();
  for (auto it = doc.begin(); it != doc.end() && nwpu; ++it)
    nwpu = it->is_array() && (it->empty() || ((*it)[0].is_object() && (*it)[0].contains("raw")));
  RS_CHECK(nwpu, FormatError, "caption_dataset", origin,
           ": neither a Karpathy caption file (no \"images\" array) nor NWPU-Captions' class-keyed layout");
  int64_t index = 0;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    for (size_t i = 0; i < it->size(); ++i, ++index) {
      CaptionSample s = nwpu_sample((*it)[i], it.key(), root, index, cat(origin, ": ", it.key(), "[", i, "]"));
      if (!keep_split(s.split, splits)) continue;
      s.dataset = dataset_name;
      ds.samples_.push_back(std::move(s));
    }
  }
  return ds;
}

CaptionDataset CaptionDataset::load(const std::vector<CaptionSource>& sources, const std::vector<std::string>& splits) {
  CaptionDataset all;
  for (const CaptionSource& src : sources) {
    const std::string origin = src.json.string();
    std::ifstream in(src.json, std::ios::binary);
    RS_CHECK(in.good(), IOError, "caption_dataset", origin, ": cannot open the caption file");
    std::ostringstream ss;
    ss << in.rdbuf();
    all.append(parse(ss.str(), src.image_root, origin, src.name, splits));
  }
  return all;
}

CaptionDataset CaptionDataset::filter_split(const std::vector<std::string>& splits) const {
  CaptionDataset out;
  for (const CaptionSample& s : samples_)
    if (keep_split(s.split, splits)) out.samples_.push_back(s);
  return out;
}

CaptionDataset CaptionDataset::subset(const std::vector<size_t>& indices) const {
  CaptionDataset out;
  for (size_t i : indices) {
    RS_CHECK(i < samples_.size(), IndexError, "caption_dataset", "subset index ", i, " of ", samples_.size());
    out.samples_.push_back(samples_[i]);
  }
  return out;
}

CaptionDataset CaptionDataset::expand_captions() const {
  CaptionDataset out;
  for (const CaptionSample& s : samples_)
    for (size_t j = 0; j < s.captions.size(); ++j) {
      CaptionSample one = s;
      one.captions = {s.captions[j]};
      one.tokens = {j < s.tokens.size() ? s.tokens[j] : std::vector<std::string>{}};
      out.samples_.push_back(std::move(one));
    }
  return out;
}

void CaptionDataset::append(const CaptionDataset& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

std::map<std::string, size_t> CaptionDataset::count_by_split() const {
  std::map<std::string, size_t> counts;
  for (const CaptionSample& s : samples_) ++counts[s.split];
  return counts;
}

size_t CaptionDataset::caption_count() const {
  size_t n = 0;
  for (const CaptionSample& s : samples_) n += s.captions.size();
  return n;
}

std::vector<size_t> CaptionDataset::missing_files() const {
  std::vector<size_t> missing;
  std::error_code ec;
  for (size_t i = 0; i < samples_.size(); ++i)
    if (!std::filesystem::is_regular_file(samples_[i].image_path, ec)) missing.push_back(i);
  return missing;
}

}  // namespace rscapret::data
