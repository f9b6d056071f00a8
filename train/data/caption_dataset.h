// Caption datasets in the Karpathy JSON layout used by UCM-, Sydney-, RSICD- and NWPU-Captions:
//   {"dataset": "UCM", "images": [{"filename": "1.tif", "split": "train", "imgid": 0,
//     "sentences": [{"raw": "There is a piece of farmland .", "tokens": [...], ...}, ...],
//     "sentids": [...], "filepath"?: "sub/folder"}, ...]}
// One or several files (Cap-4 = UCM + Sydney + RSICD + NWPU), each with its own image root.
//
// Image files: root / filepath / filename. When that file does not exist, the same stem with another
// image extension (.png .jpg .jpeg .tif .tiff .bmp) is used if present: the shared copies of UCM and
// Sydney store "1.tif" as 1.png or 1.jpg. A sample whose file is missing is kept (the loader reports
// and skips it); missing_files() lists them.
//
// NWPU-Captions' own release is not in Karpathy layout but keyed by class,
//   {"airplane": [{"filename": "airplane_001.jpg", "split": "train", "imgid": 0,
//                  "raw": "...", "raw_1": "...", ..., "raw_4": "..."}, ...], ...}
// with images under root / <class> / filename; that layout is read too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace rscapret::data {

struct CaptionSample {
  std::filesystem::path image_path;                 // resolved file (may be missing)
  std::vector<std::string> captions;                // the "raw" sentences, as written in the JSON
  std::vector<std::vector<std::string>> tokens;     // the "tokens" of each sentence (empty if absent)
  std::string split;                                // "train", "val", "test", ...
  int64_t image_id = 0;                             // "imgid" of its file (unique within one file)
  std::string dataset;                              // "dataset" of its file, or the source's name
};

struct CaptionSource {
  std::filesystem::path json;        // the caption file
  std::filesystem::path image_root;  // folder of its images
  std::string name;                  // overrides the file's "dataset" field when not empty
};

// "JSON:IMAGE_ROOT" or "NAME=JSON:IMAGE_ROOT" (command lines); ValueError when malformed.
CaptionSource parse_caption_source(const std::string& spec);

class CaptionDataset {
 public:
  CaptionDataset() = default;

  // Reads every source, keeping the samples whose split is in `splits` (all when empty), in file
  // order, sources in the order given. FormatError (naming the file and the entry) on malformed
  // JSON or entries; IOError when a JSON file is missing. An image without captions is an error.
  static CaptionDataset load(const std::vector<CaptionSource>& sources, const std::vector<std::string>& splits = {});
  static CaptionDataset load(const CaptionSource& source, const std::vector<std::string>& splits = {}) {
    return load(std::vector<CaptionSource>{source}, splits);
  }
  // Parses JSON text directly (`origin` names it in errors); for tests and embedded data.
  static CaptionDataset parse(const std::string& json_text, const std::filesystem::path& image_root,
                              const std::string& origin = "<json>", const std::string& name = "",
                              const std::vector<std::string>& splits = {});

  size_t size() const { return samples_.size(); }
  bool empty() const { return samples_.empty(); }
  const CaptionSample& operator[](size_t i) const { return samples_[i]; }
  const std::vector<CaptionSample>& samples() const { return samples_; }

  // A new dataset with the samples of these splits.
  CaptionDataset filter_split(const std::vector<std::string>& splits) const;
  // The samples at these indices, in this order (IndexError when out of range).
  CaptionDataset subset(const std::vector<size_t>& indices) const;
  // One sample per (image, caption) pair: caption-level iteration.
  CaptionDataset expand_captions() const;
  // Appends another dataset's samples (Cap-4 from separately loaded parts).
  void append(const CaptionDataset& other);

  std::map<std::string, size_t> count_by_split() const;
  size_t caption_count() const;
  // Samples whose image file does not exist (checked now, on the file system).
  std::vector<size_t> missing_files() const;

 private:
  std::vector<CaptionSample> samples_;
};

}  // namespace rscapret::data
