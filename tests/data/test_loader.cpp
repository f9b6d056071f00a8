// The threaded loader: same batches for any thread count, bad images skipped and counted, seeded
// per-epoch permutations, resume from a position, real UCM images.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "tensor/error.h"
#include "tests/common/shared_dir.h"
#include "tests/data/test_images.h"
#include "train/data/loader.h"

namespace rscapret::data {
namespace {

using namespace rscapret::testing;

constexpr int kN = 23;
constexpr int kCorrupt = 5, kMissing = 11;

// Image i is a flat colour whose red level is 10 i: the batch row tells which image it holds.
uint8_t red_of(int64_t i) { return uint8_t(10 * i); }

// 23 small images as PNG, BMP and PackBits TIFF; #5 is garbage, #11 missing.
struct SmallSet {
  TempDir dir{"loader"};
  CaptionDataset ds;
  SmallSet() {
    std::string json = R"({"dataset": "small", "images": [)";
    for (int i = 0; i < kN; ++i) {
      const int w = 20 + i % 5, h = 18 + i % 3;
      std::vector<uint8_t> px(size_t(w) * h * 3);
      for (size_t p = 0; p < px.size(); p += 3) {
        px[p] = red_of(i);
        px[p + 1] = uint8_t(255 - i);
        px[p + 2] = uint8_t(7 * i);
      }
      const std::string name = "img" + std::to_string(i) + (i % 3 == 0 ? ".png" : i % 3 == 1 ? ".bmp" : ".tif");
      if (i == kCorrupt) write_bytes(dir.path / name, {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'g'});
      else if (i != kMissing)
        write_bytes(dir.path / name, i % 3 == 0   ? encode_png(px, w, h, 3)
                                     : i % 3 == 1 ? encode_bmp(px, w, h, 3)
                                                  : encode_tiff(px, {.width = w, .height = h, .compression = 32773}));
      json += std::string(i ? "," : "") + R"({"filename": ")" + name + R"(", "split": "train", "imgid": )" +
              std::to_string(i) + R"(, "sentences": [{"raw": "cap )" + std::to_string(i) + R"( a"}, {"raw": "cap )" +
              std::to_string(i) + R"( b"}]})";
    }
    json += "]}";
    ds = CaptionDataset::parse(json, dir.path, "small.json");
  }
};

struct EpochRun {
  std::vector<std::vector<int64_t>> indices;
  std::vector<std::vector<std::string>> captions;
  std::vector<std::vector<float>> pixels;
  std::vector<int64_t> next_positions;
};

EpochRun run_epoch(DataLoader& loader, int64_t epoch, int64_t start = 0) {
  EpochRun r;
  loader.start_epoch(epoch, start);
  while (auto b = loader.next()) {
    EXPECT_EQ(b->pixels.shape(), (Shape{b->size(), 3, 224, 224}));
    r.indices.push_back(b->indices);
    r.captions.push_back(b->captions);
    r.next_positions.push_back(b->next_position);
    const float* p = b->pixels.data<float>();
    r.pixels.emplace_back(p, p + b->pixels.numel());
  }
  return r;
}

LoaderOptions small_options(int threads) {
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 42;
  o.num_threads = threads;
  o.prefetch_batches = 2;
  o.on_skip = [](const std::string&, const std::string&) {};
  return o;
}

TEST(Loader, SameBatchesForAnyThreadCount) {
  SmallSet set;
  std::vector<EpochRun> runs;
  for (int threads : {1, 2, 4}) {
    DataLoader loader(set.ds, small_options(threads));
    for (int epoch = 0; epoch < 2; ++epoch) runs.push_back(run_epoch(loader, epoch));
  }
  for (size_t k = 2; k < runs.size(); ++k) {
    EXPECT_EQ(runs[k].indices, runs[k % 2].indices) << "run " << k;
    EXPECT_EQ(runs[k].captions, runs[k % 2].captions) << "run " << k;
    EXPECT_TRUE(runs[k].pixels == runs[k % 2].pixels) << "run " << k << ": pixels differ";
  }
  EXPECT_NE(runs[0].indices, runs[1].indices);  // epochs are shuffled differently
  // Each row holds its own image: channel 0 of a flat image is (red/255 - mean) / std everywhere.
  const ClipPreprocessOptions pre;
  const EpochRun& r = runs[0];
  for (size_t b = 0; b < r.indices.size(); ++b)
    for (size_t row = 0; row < r.indices[b].size(); ++row) {
      const float want = (float(red_of(r.indices[b][row])) / 255.0f - pre.mean[0]) / pre.std[0];
      EXPECT_EQ(r.pixels[b][row * 3 * 224 * 224 + 1000], want);
      const std::string cap = r.captions[b][row];
      EXPECT_EQ(cap.substr(0, cap.size() - 2), "cap " + std::to_string(r.indices[b][row]));
    }
}

TEST(Loader, SkipsCorruptAndMissingImagesOnceReportedAndCounted) {
  SmallSet set;
  LoaderOptions o = small_options(2);
  std::vector<std::string> reported;
  o.on_skip = [&](const std::string& path, const std::string& reason) {
    reported.push_back(path);
    EXPECT_NE(reason.find(path), std::string::npos) << reason;  // the reason names the file too
  };
  DataLoader loader(set.ds, o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    const EpochRun r = run_epoch(loader, epoch);
    std::multiset<int64_t> seen;
    for (const auto& b : r.indices) seen.insert(b.begin(), b.end());
    EXPECT_EQ(seen.size(), size_t(kN - 2));
    EXPECT_EQ(seen.count(kCorrupt), 0u);
    EXPECT_EQ(seen.count(kMissing), 0u);
    for (int i = 0; i < kN; ++i) {
      if (i == kCorrupt || i == kMissing) continue;
      EXPECT_EQ(seen.count(i), 1u) << i;
    }
    // Batches are refilled after a skip: 21 good images = 5 full batches of 4 + 1.
    ASSERT_EQ(r.indices.size(), 6u);
    for (size_t b = 0; b < 5; ++b) EXPECT_EQ(r.indices[b].size(), 4u);
    EXPECT_EQ(r.indices[5].size(), 1u);
    EXPECT_EQ(r.next_positions.back(), kN);
  }
  EXPECT_EQ(loader.skipped_count(), 4);  // 2 per epoch
  ASSERT_EQ(reported.size(), 2u);        // but each path reported once
  const auto skipped = loader.skipped_images();
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped.count(set.ds[kCorrupt].image_path.string()), 1u);
  EXPECT_EQ(skipped.count(set.ds[kMissing].image_path.string()), 1u);
  EXPECT_NE(skipped.at(set.ds[kCorrupt].image_path.string()).find("not a JPEG, PNG, BMP or TIFF"), std::string::npos);
  EXPECT_NE(skipped.at(set.ds[kMissing].image_path.string()).find("no such file"), std::string::npos);
}

TEST(Loader, ResumeFromPositionAndDropLast) {
  SmallSet set;
  DataLoader loader(set.ds, small_options(2));
  const EpochRun full = run_epoch(loader, 3);
  const EpochRun rest = run_epoch(loader, 3, full.next_positions[1]);
  ASSERT_EQ(rest.indices.size(), full.indices.size() - 2);
  for (size_t b = 0; b < rest.indices.size(); ++b) {
    EXPECT_EQ(rest.indices[b], full.indices[b + 2]);
    EXPECT_TRUE(rest.pixels[b] == full.pixels[b + 2]);
  }
  LoaderOptions o = small_options(2);
  o.drop_last = true;
  DataLoader dropping(set.ds, o);
  const EpochRun d = run_epoch(dropping, 3);
  ASSERT_EQ(d.indices.size(), 5u);
  for (size_t b = 0; b < 5; ++b) EXPECT_EQ(d.indices[b], full.indices[b]);
  EXPECT_EQ(dropping.batches_per_epoch(), kN / 4);
}

TEST(Loader, NoShuffleOrderAndEarlyStop) {
  SmallSet set;
  LoaderOptions o = small_options(3);
  o.shuffle = false;
  {
    DataLoader loader(set.ds, o);
    const EpochRun r = run_epoch(loader, 0);
    EXPECT_EQ(r.indices[0], (std::vector<int64_t>{0, 1, 2, 3}));
    EXPECT_EQ(r.indices[1], (std::vector<int64_t>{4, 6, 7, 8}));  // 5 skipped, refilled from 6..8
  }
  {
    DataLoader loader(set.ds, o);  // destroyed with work in flight: must not hang or crash
    loader.start_epoch(0);
    EXPECT_TRUE(loader.next().has_value());
  }
  DataLoader idle(set.ds, o);
  EXPECT_THROW(idle.next(), ValueError);
  EXPECT_THROW(idle.start_epoch(0, kN + 1), ValueError);
  o.batch_size = 0;
  EXPECT_THROW(DataLoader(set.ds, o), ValueError);
}

TEST(Loader, EpochPermutations) {
  const auto p0 = epoch_permutation(1000, 7, 0);
  std::vector<int64_t> sorted = p0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[size_t(i)], i);
  EXPECT_EQ(p0, epoch_permutation(1000, 7, 0));
  EXPECT_NE(p0, epoch_permutation(1000, 7, 1));
  EXPECT_NE(p0, epoch_permutation(1000, 8, 0));
  int fixed_points = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed_points += p0[size_t(i)] == i;
  EXPECT_LT(fixed_points, 10);  // a random permutation has 1 on average
  EXPECT_TRUE(epoch_permutation(0, 1, 0).empty());
  EXPECT_EQ(epoch_permutation(1, 1, 5), std::vector<int64_t>{0});
  // Caption choice: deterministic, and every caption of a 5-caption image gets used.
  std::set<size_t> used;
  for (int64_t e = 0; e < 50; ++e) {
    const size_t c = choose_caption(5, 3, e, 17);
    EXPECT_EQ(c, choose_caption(5, 3, e, 17));
    used.insert(c);
  }
  EXPECT_EQ(used.size(), 5u);
}

TEST(Loader, RealUcmImages) {
  RSCAPRET_REQUIRE_SHARED("data/ucm/dataset_ucm.json");
  const CaptionDataset ucm = CaptionDataset::load(
      {shared_path("data/ucm/dataset_ucm.json"), shared_path("data/ucm/images"), ""});
  std::vector<size_t> pick;
  for (size_t i = 0; i < 48; ++i) pick.push_back(i * 43);  // JPEG (train/val) and PNG (test), every class
  const CaptionDataset ds = ucm.subset(pick);
  LoaderOptions o;
  o.batch_size = 16;
  o.num_threads = 2;
  o.seed = 1;
  DataLoader loader(ds, o);
  loader.start_epoch(0);
  int64_t rows = 0;
  bool checked = false;
  while (auto b = loader.next()) {
    ASSERT_EQ(b->pixels.shape(), (Shape{16, 3, 224, 224}));
    rows += b->size();
    if (!checked) {  // the first row equals the single-image path
      const Tensor want = clip_preprocess(load_image(ds[size_t(b->indices[0])].image_path));
      EXPECT_EQ(std::memcmp(want.data<float>(), b->pixels.data<float>(), size_t(want.numel()) * 4), 0);
      checked = true;
    }
  }
  EXPECT_EQ(rows, 48);
  EXPECT_EQ(loader.skipped_count(), 0);
}

}  // namespace
}  // namespace rscapret::data
