// CLIP preprocessing against PIL 9.4 (../shared/fixtures/clip_preprocess: 4 real RS images), plus
// properties of the Pillow-style bicubic resampler that need no reference.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "tests/common/shared_dir.h"
#include "tests/data/test_images.h"
#include "train/data/clip_preprocess.h"

namespace rscapret::data {
namespace {

using namespace rscapret::testing;

std::vector<uint8_t> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(ClipPreprocess, MatchesPilFixtures) {
  RSCAPRET_REQUIRE_SHARED("fixtures/clip_preprocess/manifest.json");
  const auto dir = shared_path("fixtures/clip_preprocess");
  std::ifstream mf(dir / "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(mf);
  ClipPreprocessOptions opt;
  for (int c = 0; c < 3; ++c) {  // the manifest's float32 constants are CLIP's, as ours
    EXPECT_EQ(opt.mean[c], manifest["mean"][c].get<float>());
    EXPECT_EQ(opt.std[c], manifest["std"][c].get<float>());
  }
  ASSERT_EQ(manifest["items"].size(), 4u);
  for (const auto& item : manifest["items"]) {
    const std::string src = item["source"];
    const bool jpeg = src.find(".jpg") != std::string::npos;
    // JPEG: the default decoder (libjpeg-turbo when built in, PIL's own) and stb_image, both measured.
    std::vector<JpegDecoder> decoders = {JpegDecoder::automatic};
    if (jpeg && libjpeg_available()) decoders.push_back(JpegDecoder::stb);
    for (const JpegDecoder dec : decoders) {
      const bool stb_jpeg = jpeg && (dec == JpegDecoder::stb || !libjpeg_available());
      SCOPED_TRACE(src + (stb_jpeg ? " (stb_image)" : ""));
      DecodeLimits lim;
      lim.jpeg = dec;
      const Image img = load_image(dir / src, lim);
      EXPECT_EQ(img.width, item["orig_wh"][0].get<int>());
      EXPECT_EQ(img.height, item["orig_wh"][1].get<int>());
      const auto [rw, rh] = shorter_side_size(img.width, img.height, 224);
      EXPECT_EQ(rw, item["resized_wh"][0].get<int>());
      EXPECT_EQ(rh, item["resized_wh"][1].get<int>());

      // The resized + cropped uint8 image (H, W, 3).
      const Image crop = clip_resize_crop(img, opt);
      const auto ref_u8 = read_all(dir / item["u8_file"].get<std::string>());
      ASSERT_EQ(ref_u8.size(), size_t(224 * 224 * 3));
      int u8_max = 0, u8_count = 0;
      for (size_t i = 0; i < ref_u8.size(); ++i) {
        const int d = std::abs(int(crop.pixels[i]) - int(ref_u8[i]));
        u8_max = std::max(u8_max, d);
        u8_count += d != 0;
      }
      // The float tensor (C, H, W).
      const Tensor t = clip_preprocess(img, opt);
      ASSERT_EQ(t.shape(), (Shape{3, 224, 224}));
      const auto ref_f = read_all(dir / item["tensor_file"].get<std::string>());
      ASSERT_EQ(ref_f.size(), size_t(3 * 224 * 224 * 4));
      const float* ref = reinterpret_cast<const float*>(ref_f.data());
      const float* got = t.data<float>();
      double f_max = 0.0;
      for (int64_t i = 0; i < t.numel(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i]));
        f_max = std::max(f_max, double(std::fabs(got[i] - ref[i])));
      }
      // The float path alone: our normalisation of PIL's uint8 image.
      Image ref_img(224, 224);
      ref_img.pixels = ref_u8;
      std::vector<float> norm(3 * 224 * 224);
      normalize_into(ref_img, opt, norm.data());
      double norm_max = 0.0;
      for (size_t i = 0; i < norm.size(); ++i) norm_max = std::max(norm_max, double(std::fabs(norm[i] - ref[i])));
      std::printf("%-30s %-9s uint8: max |diff| %d (%d of %zu values differ); float: max |diff| %.3g; "
                  "normalisation of PIL's uint8: max |diff| %.3g\n",
                  src.c_str(), stb_jpeg ? "stb_image" : jpeg ? "libjpeg" : "libtiff", u8_max, u8_count,
                  ref_u8.size(), f_max, norm_max);

      // Tolerances, from the measurements printed above:
      // - TIFF, and JPEG through libjpeg-turbo: our resampler is Pillow's fixed-point algorithm and
      //   the decoders are PIL's, so the uint8 images are identical (measured 0 differing values) and
      //   the floats are the same float32 operations (measured 0). Any real regression moves a uint8
      //   level, i.e. >= 1/255/std = 0.0146 in the floats.
      // - JPEG through stb_image (builds without libjpeg): stb's IDCT and 4:2:2 chroma upsampling
      //   round differently from libjpeg-turbo's ISLOW + fancy upsampling; measured on RSICD: max 6
      //   levels, 13230 of 150528 values (8.8%) differ, 30 by more than 2.
      const int u8_tol = stb_jpeg ? 6 : 0;
      EXPECT_LE(u8_max, u8_tol);
      // One uint8 level is at most 1/255/0.2613 = 0.0150 in the floats; with identical uint8 the
      // only difference left is float32 rounding (< 1e-6 for |values| < 2.2).
      const double f_tol = u8_tol / 255.0 / 0.2613 + 1e-6;
      EXPECT_LE(f_max, f_tol);
      EXPECT_LE(norm_max, 1e-6);  // same uint8 in: only float32 rounding could differ
      if (stb_jpeg) {
        EXPECT_LT(u8_count, 224 * 224 * 3 / 10) << "decoder differences should stay rare";
      } else {
        for (int i = 0; i < 8; ++i) EXPECT_NEAR(got[i], item["first8_channel0"][i].get<float>(), 1e-6);
        for (int c = 0; c < 3; ++c) {  // channel means, accumulated in double
          double sum = 0.0;
          for (int i = 0; i < 224 * 224; ++i) sum += got[c * 224 * 224 + i];
          EXPECT_NEAR(sum / (224 * 224), item["channel_mean"][c].get<double>(), 1e-6);
        }
      }
    }
  }
}

TEST(ClipPreprocess, OutputSizesAndCrop) {
  EXPECT_EQ(shorter_side_size(256, 256, 224), (std::array<int, 2>{224, 224}));
  EXPECT_EQ(shorter_side_size(256, 300, 224), (std::array<int, 2>{224, 262}));  // int(224*300/256) = 262
  EXPECT_EQ(shorter_side_size(600, 400, 224), (std::array<int, 2>{336, 224}));
  EXPECT_EQ(shorter_side_size(253, 256, 224), (std::array<int, 2>{224, 226}));  // 226.65 truncated
  // Crop offsets use Python's round-half-to-even: (225-224)/2 = 0.5 -> 0, (227-224)/2 = 1.5 -> 2.
  Image img(227, 225);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c) img.row(y)[3 * x + c] = uint8_t(c == 0 ? x : y);
  const Image crop = center_crop(img, 224, 224);
  EXPECT_EQ(crop.row(0)[0], 2);  // left = 2
  EXPECT_EQ(crop.row(0)[1], 0);  // top = 0
  EXPECT_THROW(center_crop(img, 300, 10), ValueError);
  // A non-square image: 300 x 256 -> 262 x 224 -> crop at left round(19) = 19.
  const Image wide(300, 256);
  const Image out = clip_resize_crop(wide);
  EXPECT_EQ(out.width, 224);
  EXPECT_EQ(out.height, 224);
}

TEST(ClipPreprocess, ResamplerProperties) {
  // Same size: unchanged (PIL returns a copy).
  const auto px = pattern(40, 30, 3);
  Image img(40, 30);
  img.pixels = px;
  EXPECT_EQ(resize_bicubic(img, 40, 30).pixels, px);
  // A constant image stays constant, up or down, any factor (the weights of each pixel sum to 1).
  Image flat(57, 43);
  std::fill(flat.pixels.begin(), flat.pixels.end(), uint8_t(173));
  for (auto [w, h] : std::vector<std::pair<int, int>>{{224, 224}, {13, 9}, {57, 20}, {100, 43}, {1, 1}}) {
    const Image r = resize_bicubic(flat, w, h);
    ASSERT_EQ(r.width, w);
    for (uint8_t v : r.pixels) ASSERT_EQ(v, 173);
  }
  // Downscaling by 2 averages (antialiasing): a 1-pixel checkerboard becomes ~grey, whereas a
  // 4-tap bicubic without support scaling would keep most of the contrast.
  Image checker(64, 64);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) checker.row(y)[3 * x + c] = ((x + y) & 1) ? 255 : 0;
  const Image half = resize_bicubic(checker, 32, 32);
  for (int y = 2; y < 30; ++y)
    for (int x = 2; x < 30; ++x) EXPECT_NEAR(half.row(y)[3 * x], 128, 2) << x << "," << y;
  // Values stay in [0, 255] despite the negative lobes (clamped, not wrapped).
  Image edge(16, 1);
  for (int x = 0; x < 16; ++x)
    for (int c = 0; c < 3; ++c) edge.row(0)[3 * x + c] = x < 8 ? 0 : 255;
  const Image up = resize_bicubic(edge, 64, 1);
  EXPECT_EQ(up.row(0)[0], 0);
  EXPECT_EQ(up.row(0)[3 * 63], 255);
}

TEST(ClipPreprocess, TensorLayoutAndStacking) {
  Image img(224, 224);
  for (int y = 0; y < 224; ++y)
    for (int x = 0; x < 224; ++x) {
      img.row(y)[3 * x + 0] = 255;
      img.row(y)[3 * x + 1] = 0;
      img.row(y)[3 * x + 2] = uint8_t(x);
    }
  const Tensor t = clip_preprocess(img);
  ASSERT_EQ(t.shape(), (Shape{3, 224, 224}));
  const ClipPreprocessOptions opt;
  EXPECT_FLOAT_EQ(float(t.at({0, 5, 7})), (1.0f - opt.mean[0]) / opt.std[0]);
  EXPECT_FLOAT_EQ(float(t.at({1, 5, 7})), (0.0f - opt.mean[1]) / opt.std[1]);
  EXPECT_FLOAT_EQ(float(t.at({2, 5, 7})), (7.0f / 255.0f - opt.mean[2]) / opt.std[2]);
  const Tensor b = stack_images({t, t, t});
  ASSERT_EQ(b.shape(), (Shape{3, 3, 224, 224}));
  EXPECT_EQ(b.at({2, 2, 5, 9}), t.at({2, 5, 9}));
  EXPECT_THROW(stack_images({}), ShapeError);
  EXPECT_THROW(stack_images({t, Tensor::zeros({3, 4, 4})}), ShapeError);
}

}  // namespace
}  // namespace rscapret::data
