// Karpathy caption files: the real UCM and Sydney files (counts per split, file resolution), Cap-N
// combinations, the NWPU layout, and malformed input.
#include <gtest/gtest.h>

#include "tensor/error.h"
#include "tests/common/shared_dir.h"
#include "tests/data/test_images.h"
#include "train/data/caption_dataset.h"

namespace rscapret::data {
namespace {

using namespace rscapret::testing;

CaptionSource ucm_source() {
  return {shared_path("data/ucm/dataset_ucm.json"), shared_path("data/ucm/images"), ""};
}
CaptionSource sydney_source() {
  return {shared_path("data/sydney/dataset_sydney_modified.json"), shared_path("data/sydney/images_png"), ""};
}

TEST(CaptionDataset, UcmCountsPerSplit) {
  RSCAPRET_REQUIRE_SHARED("data/ucm/dataset_ucm.json");
  const CaptionDataset ds = CaptionDataset::load(ucm_source());
  ASSERT_EQ(ds.size(), 2100u);
  const auto counts = ds.count_by_split();
  EXPECT_EQ(counts.at("train"), 1680u);
  EXPECT_EQ(counts.at("val"), 210u);
  EXPECT_EQ(counts.at("test"), 210u);
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ(ds.caption_count(), 10500u);
  const CaptionSample& s = ds[0];
  EXPECT_EQ(s.image_path, shared_path("data/ucm/images/1.jpg"));
  EXPECT_EQ(s.split, "train");
  EXPECT_EQ(s.image_id, 0);
  EXPECT_EQ(s.dataset, "UCM");
  ASSERT_EQ(s.captions.size(), 5u);
  EXPECT_EQ(s.captions[0], "There is a piece of farmland .");
  EXPECT_EQ(s.tokens[0], (std::vector<std::string>{"There", "is", "a", "piece", "of", "farmland"}));
  EXPECT_TRUE(ds.missing_files().empty());

  const CaptionDataset test = CaptionDataset::load(ucm_source(), {"test"});
  EXPECT_EQ(test.size(), 210u);
  for (const CaptionSample& t : test.samples()) EXPECT_EQ(t.image_path.extension(), ".png");
  EXPECT_EQ(ds.filter_split({"train", "val"}).size(), 1890u);
  EXPECT_EQ(ds.filter_split({"nope"}).size(), 0u);
  EXPECT_EQ(test.expand_captions().size(), 1050u);
  EXPECT_EQ(test.expand_captions()[1].captions, std::vector<std::string>{test[0].captions[1]});
}

TEST(CaptionDataset, SydneyResolvesOtherExtensionsAndCombines) {
  RSCAPRET_REQUIRE_SHARED("data/sydney/dataset_sydney_modified.json");
  RSCAPRET_REQUIRE_SHARED("data/ucm/dataset_ucm.json");
  const CaptionDataset syd = CaptionDataset::load(sydney_source());
  ASSERT_EQ(syd.size(), 613u);
  const auto counts = syd.count_by_split();
  EXPECT_EQ(counts.at("train"), 497u);
  EXPECT_EQ(counts.at("val"), 58u);
  EXPECT_EQ(counts.at("test"), 58u);
  EXPECT_EQ(syd[0].dataset, "Sydney");
  // The JSON says "1.tif"; the shared copy has 1.png.
  EXPECT_EQ(syd[0].image_path, shared_path("data/sydney/images_png/1.png"));
  EXPECT_EQ(syd.missing_files().size(), 613u - 9u);  // only 9 images are shipped

  // Cap-2 in the order given; a name overrides the file's "dataset".
  CaptionSource s = sydney_source();
  s.name = "sydney-captions";
  const CaptionDataset both = CaptionDataset::load({ucm_source(), s}, {"train"});
  EXPECT_EQ(both.size(), 1680u + 497u);
  EXPECT_EQ(both[0].dataset, "UCM");
  EXPECT_EQ(both[1680].dataset, "sydney-captions");
}

TEST(CaptionDataset, SourceSpecs) {
  const CaptionSource a = parse_caption_source("data/ucm/dataset_ucm.json:data/ucm/images");
  EXPECT_EQ(a.json, "data/ucm/dataset_ucm.json");
  EXPECT_EQ(a.image_root, "data/ucm/images");
  EXPECT_EQ(a.name, "");
  const CaptionSource b = parse_caption_source("rsicd=/d/dataset_rsicd.json:/d/RSICD_images");
  EXPECT_EQ(b.name, "rsicd");
  EXPECT_EQ(b.json, "/d/dataset_rsicd.json");
  EXPECT_EQ(b.image_root, "/d/RSICD_images");
  EXPECT_THROW(parse_caption_source("no_root.json"), ValueError);
  EXPECT_THROW(parse_caption_source("x.json:"), ValueError);
}

TEST(CaptionDataset, KarpathyDetailsAndNwpuLayout) {
  TempDir dir("captions");
  std::filesystem::create_directories(dir.path / "val2014");
  write_bytes(dir.path / "val2014" / "a.jpg", {1});
  const std::string karpathy = R"({"dataset": "coco", "images": [
      {"filepath": "val2014", "filename": "a.jpg", "split": "restval", "imgid": 7,
       "sentences": [{"raw": "A cat .", "tokens": ["a", "cat"]}]},
      {"filename": "b.jpg", "split": "test", "sentences": [{"raw": "A dog ."}]}]})";
  const CaptionDataset k = CaptionDataset::parse(karpathy, dir.path, "k.json");
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].image_path, dir.path / "val2014" / "a.jpg");
  EXPECT_EQ(k[0].image_id, 7);
  EXPECT_EQ(k[0].split, "restval");
  EXPECT_EQ(k[1].image_id, 1);  // no imgid: the entry's index
  EXPECT_TRUE(k[1].tokens[0].empty());
  EXPECT_EQ(k.missing_files(), std::vector<size_t>{1});

  const std::string nwpu = R"({"airplane": [
      {"filename": "airplane_001.jpg", "split": "train", "imgid": 0, "raw": "One.", "raw_1": "Two.",
       "raw_2": "Three.", "raw_3": "Four.", "raw_4": "Five.", "sentids": [0,1,2,3,4]}],
    "beach": [
      {"filename": "beach_001.jpg", "split": "test", "imgid": 1, "raw": "Sand.", "raw_1": "Sea."}]})";
  const CaptionDataset n = CaptionDataset::parse(nwpu, dir.path, "dataset_nwpu.json");
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].captions, (std::vector<std::string>{"One.", "Two.", "Three.", "Four.", "Five."}));
  EXPECT_EQ(n[0].image_path, dir.path / "airplane" / "airplane_001.jpg");
  EXPECT_EQ(n[1].split, "test");
  EXPECT_EQ(n[0].dataset, "dataset_nwpu");  // no "dataset" field: the file's stem
  EXPECT_EQ(CaptionDataset::parse(nwpu, dir.path, "x", "NWPU", {"test"}).size(), 1u);
}

void expect_format_error(const std::string& text, const std::string& fragment) {
  try {
    CaptionDataset::parse(text, "/tmp", "bad.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
}

TEST(CaptionDataset, MalformedJsonIsAFormatError) {
  expect_format_error(R"({"images": [{"filename": "a.jpg", )", "malformed JSON");
  expect_format_error("", "malformed JSON");
  expect_format_error("[1, 2]", "top level");
  expect_format_error(R"({"dataset": "x"})", "neither a Karpathy");
  expect_format_error(R"({"images": {"a": 1}})", "\"images\" is not an array");
  expect_format_error(R"({"images": [{"split": "train", "sentences": [{"raw": "x"}]}]})", "images[0]: missing \"filename\"");
  expect_format_error(R"({"images": [{"filename": "a", "sentences": [{"raw": "x"}]}]})", "missing \"split\"");
  expect_format_error(R"({"images": [{"filename": "a", "split": "train"}]})", "missing \"sentences\"");
  expect_format_error(R"({"images": [{"filename": "a", "split": "train", "sentences": []}]})", "no captions");
  expect_format_error(R"({"images": [{"filename": "a", "split": "train", "sentences": [{"tokens": []}]}]})",
                      "sentences[0]: missing \"raw\"");
  expect_format_error(R"({"images": [{"filename": 3, "split": "train", "sentences": [{"raw": "x"}]}]})",
                      "\"filename\" is not a string");
  expect_format_error(R"({"images": [{"filename": "a", "split": "t", "imgid": "7", "sentences": [{"raw": "x"}]}]})",
                      "imgid");
  // A name that is no file (found by tools/fuzz/fuzz_caption_dataset.cpp: "a.n/" was accepted).
  for (const char* name : {"", "a.n/", "sub/..", "."})
    expect_format_error(cat(R"({"images": [{"filename": ")", name, R"(", "split": "t", "sentences": [{"raw": "x"}]}]})"),
                        "names no file");
  EXPECT_THROW(CaptionDataset::load({"/nonexistent/captions.json", "/tmp", ""}), IOError);
}

}  // namespace
}  // namespace rscapret::data
