// Decoding: PNG/BMP/JPEG (CMYK and YCCK too)/TIFF written here, the shared PackBits TIFF, and every way a file can be
// broken (missing, empty, garbage, truncated at every cut, flipped bytes, absurd header sizes).
#include <gtest/gtest.h>

#include <tiffio.h>

#include <algorithm>
#include <random>

#include "tensor/error.h"
#include "tests/common/shared_dir.h"
#include "tests/data/test_images.h"
#include "train/data/image.h"

namespace rscapret::data {
namespace {

using namespace rscapret::testing;

// Expected RGB of an image written with `channels` channels (grey replicated, alpha dropped).
std::vector<uint8_t> to_rgb(const std::vector<uint8_t>& px, int channels) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < px.size(); i += channels)
    for (int c = 0; c < 3; ++c) out.push_back(px[i + (channels >= 3 ? c : 0)]);
  return out;
}

// Expects `fn` to throw E whose message contains every fragment.
template <typename E, typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    for (const std::string& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TEST(ImageDecode, DetectsFormatByMagicBytes) {
  const auto px = pattern(5, 4, 3);
  EXPECT_EQ(detect_image_format(encode_png(px, 5, 4, 3)), ImageFormat::png);
  EXPECT_EQ(detect_image_format(encode_bmp(px, 5, 4, 3)), ImageFormat::bmp);
  EXPECT_EQ(detect_image_format(encode_jpeg(px, 5, 4, 3, 90)), ImageFormat::jpeg);
  EXPECT_EQ(detect_image_format(encode_tiff(px, {.width = 5, .height = 4})), ImageFormat::tiff);
  const std::vector<uint8_t> junk = {'G', 'I', 'F', '8', '9', 'a', 0, 0};
  EXPECT_EQ(detect_image_format(junk), ImageFormat::unknown);
  EXPECT_EQ(detect_image_format({}), ImageFormat::unknown);
}

TEST(ImageDecode, PngBmpRoundTripExactly) {
  for (int ch : {1, 2, 3, 4}) {
    const int w = 37, h = 23;
    const auto px = pattern(w, h, ch, ch);
    for (bool png : {true, false}) {
      if (!png && ch == 2) continue;  // stb writes grey+alpha BMP as RGBA; covered by PNG
      const auto bytes = png ? encode_png(px, w, h, ch) : encode_bmp(px, w, h, ch);
      const Image img = decode_image(bytes, "mem");
      ASSERT_EQ(img.width, w);
      ASSERT_EQ(img.height, h);
      EXPECT_EQ(img.pixels, to_rgb(px, ch)) << (png ? "png" : "bmp") << " channels " << ch;
    }
  }
}

TEST(ImageDecode, JpegIsCloseToItsSource) {
  const int w = 48, h = 40;
  std::vector<uint8_t> px(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)  // smooth content: JPEG at quality 100 stays within a few levels
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) px[(size_t(y) * w + x) * 3 + c] = uint8_t(40 + 3 * x + 2 * y + 20 * c);
  const Image img = decode_image(encode_jpeg(px, w, h, 3, 100), "mem");
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  const int diff = max_abs_diff(img.pixels, px);
  std::printf("JPEG q100 round trip: max |diff| = %d\n", diff);
  EXPECT_LE(diff, 8);  // lossy codec with 4:2:0-free q100 on a smooth ramp; measured 2-3
}

struct TiffCase {
  const char* name;
  TiffSpec spec;
};

TEST(ImageDecode, TiffVariants) {
  const int w = 37, h = 29;
  std::vector<uint16_t> cmap(768);
  for (int i = 0; i < 256; ++i) {
    cmap[i] = uint16_t(i * 257);
    cmap[256 + i] = uint16_t((255 - i) * 257);
    cmap[512 + i] = uint16_t(((i * 3) & 255) * 257);
  }
  const std::vector<TiffCase> cases = {
      {"rgb strips", {.width = w, .height = h, .rows_per_strip = 4}},
      {"rgb one strip", {.width = w, .height = h, .rows_per_strip = h}},
      {"rgb packbits", {.width = w, .height = h, .compression = COMPRESSION_PACKBITS, .rows_per_strip = 5}},
      {"rgb lzw", {.width = w, .height = h, .compression = COMPRESSION_LZW, .rows_per_strip = 7}},
      {"rgb deflate", {.width = w, .height = h, .compression = COMPRESSION_ADOBE_DEFLATE}},
      {"rgb tiles", {.width = w, .height = h, .tile = 16}},
      {"rgb tiles packbits", {.width = w, .height = h, .compression = COMPRESSION_PACKBITS, .tile = 16}},
      {"rgb planar", {.width = w, .height = h, .planar_separate = true, .rows_per_strip = 6}},
      {"rgb planar tiles", {.width = w, .height = h, .planar_separate = true, .tile = 16}},
      {"rgba", {.width = w, .height = h, .channels = 4, .extra_alpha = true}},
      {"grey", {.width = w, .height = h, .channels = 1, .photometric = PHOTOMETRIC_MINISBLACK}},
      {"grey alpha", {.width = w, .height = h, .channels = 2, .photometric = PHOTOMETRIC_MINISBLACK, .extra_alpha = true}},
      {"miniswhite", {.width = w, .height = h, .channels = 1, .photometric = PHOTOMETRIC_MINISWHITE}},
      {"palette", {.width = w, .height = h, .channels = 1, .photometric = PHOTOMETRIC_PALETTE,
                   .compression = COMPRESSION_PACKBITS, .colormap = cmap}},
  };
  for (const TiffCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    const auto px = pattern(w, h, tc.spec.channels, 3);
    const auto bytes = encode_tiff(px, tc.spec);
    const Image img = decode_image(bytes, tc.name);
    ASSERT_EQ(img.width, w);
    ASSERT_EQ(img.height, h);
    std::vector<uint8_t> want = to_rgb(px, tc.spec.channels);
    if (tc.spec.photometric == PHOTOMETRIC_MINISWHITE)
      for (auto& v : want) v = uint8_t(255 - v);
    if (tc.spec.photometric == PHOTOMETRIC_PALETTE)
      for (size_t i = 0; i < px.size(); ++i)
        for (int c = 0; c < 3; ++c) want[3 * i + c] = uint8_t(cmap[256 * c + px[i]] >> 8);
    EXPECT_EQ(img.pixels, want);
  }
}

TEST(ImageDecode, UnsupportedTiffIsAClearError) {
  const int w = 8, h = 6;
  std::vector<uint8_t> px16(size_t(w) * h * 3 * 2, 7);
  expect_error<FormatError>([&] { decode_image(encode_tiff(px16, {.width = w, .height = h, .bits = 16}), "t16.tif"); },
                            {"t16.tif", "16-bit", "only 8-bit"});
  const auto cmyk = pattern(w, h, 4);
  expect_error<FormatError>(
      [&] { decode_image(encode_tiff(cmyk, {.width = w, .height = h, .channels = 4, .photometric = PHOTOMETRIC_SEPARATED}), "cmyk.tif"); },
      {"cmyk.tif", "photometric"});
}

TEST(ImageDecode, FileAndMemoryAgreeAndNameIsIgnored) {
  TempDir dir("decode_file");
  const auto px = pattern(20, 10, 3);
  const auto png = encode_png(px, 20, 10, 3);
  write_bytes(dir.path / "really_a_png.jpg", png);  // wrong extension: the magic bytes decide
  const Image a = load_image(dir.path / "really_a_png.jpg");
  EXPECT_EQ(a.pixels, px);
  EXPECT_EQ(decode_image(png).pixels, px);
  const ImageInfo info = probe_image(png);
  EXPECT_EQ(info.format, ImageFormat::png);
  EXPECT_EQ(info.width, 20);
  EXPECT_EQ(info.height, 10);
}

TEST(ImageDecode, SydneyPackBitsTiffEqualsItsPng) {
  RSCAPRET_REQUIRE_SHARED("data/sydney/tif_samples/1.tif");
  RSCAPRET_REQUIRE_SHARED("data/sydney/images_png/1.png");
  const Image tif = load_image(shared_path("data/sydney/tif_samples/1.tif"));
  const Image png = load_image(shared_path("data/sydney/images_png/1.png"));
  EXPECT_EQ(tif.width, 500);
  EXPECT_EQ(tif.height, 500);
  ASSERT_EQ(tif.width, png.width);
  ASSERT_EQ(tif.height, png.height);
  EXPECT_EQ(max_abs_diff(tif.pixels, png.pixels), 0);
}

TEST(ImageDecode, MissingEmptyGarbageFiles) {
  TempDir dir("decode_bad");
  const auto missing = dir.path / "nope.png";
  expect_error<IOError>([&] { load_image(missing); }, {missing.string(), "no such file"});
  expect_error<IOError>([&] { load_image(dir.path); }, {"directory"});
  write_bytes(dir.path / "empty.jpg", {});
  expect_error<FormatError>([&] { load_image(dir.path / "empty.jpg"); }, {"empty.jpg", "empty file"});
  write_bytes(dir.path / "text.png", {'h', 'e', 'l', 'l', 'o', '\n'});
  expect_error<FormatError>([&] { load_image(dir.path / "text.png"); }, {"text.png", "not a JPEG, PNG, BMP or TIFF"});
  DecodeLimits small;
  small.max_file_bytes = 10;
  write_bytes(dir.path / "big.png", encode_png(pattern(8, 8, 3), 8, 8, 3));
  expect_error<FormatError>([&] { load_image(dir.path / "big.png", small); }, {"big.png", "above the limit"});
}

// Every prefix of a valid file: a clean FormatError or (for a prefix that still holds the whole
// image) a correct decode; never a crash, never another exception type.
TEST(ImageDecode, TruncatedFilesAreFormatErrors) {
  const int w = 33, h = 21;
  const auto px = pattern(w, h, 3);
  struct Enc {
    const char* name;
    std::vector<uint8_t> bytes;
  };
  std::vector<Enc> encs = {
      {"png", encode_png(px, w, h, 3)},
      {"bmp", encode_bmp(px, w, h, 3)},
      {"jpeg", encode_jpeg(px, w, h, 3, 90)},
      {"tiff", encode_tiff(px, {.width = w, .height = h, .rows_per_strip = 3})},
      {"tiff packbits", encode_tiff(px, {.width = w, .height = h, .compression = COMPRESSION_PACKBITS, .rows_per_strip = 4})},
      {"tiff tiles lzw", encode_tiff(px, {.width = w, .height = h, .compression = COMPRESSION_LZW, .tile = 16})},
  };
  if (cmyk_jpeg_encoder_available()) {
    encs.push_back({"jpeg cmyk", encode_jpeg_cmyk(pattern(w, h, 4), w, h, {.quality = 90})});
    encs.push_back({"jpeg ycck", encode_jpeg_cmyk(pattern(w, h, 4), w, h, {.ycck = true, .quality = 90})});
  }
  for (const Enc& e : encs) {
    const Image full = decode_image(e.bytes, e.name);
    int errors = 0, decoded = 0;
    for (size_t cut = 1; cut < e.bytes.size(); cut += 1 + cut / 64) {
      const std::vector<uint8_t> part(e.bytes.begin(), e.bytes.begin() + cut);
      try {
        const Image img = decode_image(part, e.name);
        EXPECT_EQ(img.pixels, full.pixels) << e.name << " cut at " << cut << " decoded different pixels";
        ++decoded;
      } catch (const FormatError& err) {
        EXPECT_NE(std::string(err.what()).find(e.name), std::string::npos) << err.what();
        ++errors;
      } catch (const std::exception& err) {
        ADD_FAILURE() << e.name << " cut at " << cut << ": wrong exception " << err.what();
      }
    }
    std::printf("%-15s %6zu bytes: %d truncations refused, %d decoded fully\n", e.name, e.bytes.size(), errors, decoded);
    EXPECT_GT(errors, 0);
  }
  // The half file must be refused for every format (stb_image alone would decode JPEG/BMP halves).
  for (const Enc& e : encs) {
    const std::vector<uint8_t> half(e.bytes.begin(), e.bytes.begin() + e.bytes.size() / 2);
    EXPECT_THROW(decode_image(half, e.name), FormatError) << e.name;
  }
}

// Random byte flips: a FormatError or some image, never a crash (the checks behind the loader's
// "never crashes a run").
TEST(ImageDecode, CorruptBytesNeverCrash) {
  const int w = 31, h = 17;
  const auto px = pattern(w, h, 3);
  std::vector<std::vector<uint8_t>> encs = {
      encode_png(px, w, h, 3), encode_bmp(px, w, h, 3), encode_jpeg(px, w, h, 3, 85),
      encode_tiff(px, {.width = w, .height = h, .compression = COMPRESSION_PACKBITS, .rows_per_strip = 4}),
      encode_tiff(px, {.width = w, .height = h, .compression = COMPRESSION_LZW, .tile = 16})};
  if (cmyk_jpeg_encoder_available()) {
    encs.push_back(encode_jpeg_cmyk(pattern(w, h, 4), w, h, {.quality = 85}));
    encs.push_back(encode_jpeg_cmyk(pattern(w, h, 4), w, h, {.ycck = true, .quality = 85}));
  }
  std::mt19937 rng(1234);
  int errors = 0, decoded = 0;
  for (const auto& enc : encs)
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> b = enc;
      const int flips = 1 + int(rng() % 4);
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] ^= uint8_t(1 + rng() % 255);
      try {
        const Image img = decode_image(b, "flipped");
        EXPECT_EQ(img.pixels.size(), size_t(img.width) * img.height * 3);
        ++decoded;
      } catch (const Error&) {
        ++errors;
      }
    }
  std::printf("byte flips: %d refused, %d decoded\n", errors, decoded);
  EXPECT_GT(errors, 0);
}

// The JPEG without its DHT segments (marker segments up to the first SOS; the scan data as it is).
std::vector<uint8_t> strip_dht(const std::vector<uint8_t>& jpg) {
  std::vector<uint8_t> stripped(jpg.begin(), jpg.begin() + 2);  // SOI
  for (size_t pos = 2; pos + 4 <= jpg.size();) {
    EXPECT_EQ(jpg[pos], 0xFF);
    const uint8_t marker = jpg[pos + 1];
    if (marker == 0xDA) {  // SOS: the rest of the file (scan data, EOI) as it is
      stripped.insert(stripped.end(), jpg.begin() + std::ptrdiff_t(pos), jpg.end());
      break;
    }
    const size_t len = (size_t(jpg[pos + 2]) << 8) | jpg[pos + 3];
    if (marker != 0xC4) stripped.insert(stripped.end(), jpg.begin() + std::ptrdiff_t(pos), jpg.begin() + std::ptrdiff_t(pos + 2 + len));
    pos += 2 + len;
  }
  return stripped;
}

// A JPEG without its DHT segments (as Motion-JPEG frames are written): libjpeg substitutes the
// standard Huffman tables, stb_image would decode with empty tables and read out of bounds (found by
// tools/fuzz/fuzz_images.cpp), so the stb path refuses it with a FormatError. The fuzzer's crash
// input stays as a regression case.
TEST(ImageDecode, JpegScanWithUndefinedHuffmanTableNeverReachesStb) {
  const int w = 16, h = 8;
  const std::vector<uint8_t> jpg = encode_jpeg(pattern(w, h, 3), w, h, 3, 90);
  const std::vector<uint8_t> stripped = strip_dht(jpg);
  ASSERT_LT(stripped.size(), jpg.size()) << "the encoder wrote no DHT segment";
  DecodeLimits stb;
  stb.jpeg = JpegDecoder::stb;
  expect_error<FormatError>([&] { decode_image(stripped, "no_dht.jpg", stb); },
                            {"no_dht.jpg", "Huffman table that no DHT segment defined"});
  if (libjpeg_available()) {
    const Image img = decode_image(stripped, "no_dht.jpg");  // stb_image_write uses the standard tables
    EXPECT_EQ(img.width, w);
    EXPECT_LE(max_abs_diff(img.pixels, decode_image(jpg, "with_dht.jpg").pixels), 0);
  }
  const std::filesystem::path crash = std::filesystem::path(RSCAPRET_SOURCE_DIR) / "tools/fuzz/seeds/images/crash_undefined_huffman.jpg";
  if (std::filesystem::exists(crash)) {
    EXPECT_THROW(decode_image(read_file(crash), "crash", stb), FormatError);
  }
}

// ---- CMYK and YCCK JPEG ----------------------------------------------------------------------
// Pillow (Image.open(jpeg).convert("RGB")) reads every 4-component JPEG as inverted CMYK ("CMYK;I")
// and converts with R = nk - MULDIV255(C, nk), nk = 255 - K, i.e. (255 - C)(255 - K) / 255 rounded
// to nearest. The expected values below use that rounded quotient, written independently of
// detail::jpeg_cmyk_to_rgb.

uint8_t pillow_channel(int c, int k) { return uint8_t((2 * (255 - c) * (255 - k) + 255) / 510); }

// RGB from original (not inverted) CMYK values, (h, w, 4) -> (h, w, 3).
std::vector<uint8_t> pillow_rgb_of_cmyk(const std::vector<uint8_t>& cmyk) {
  std::vector<uint8_t> rgb;
  for (size_t i = 0; i < cmyk.size(); i += 4)
    for (int c = 0; c < 3; ++c) rgb.push_back(pillow_channel(cmyk[i + c], cmyk[i + 3]));
  return rgb;
}

std::vector<uint8_t> inverted(std::vector<uint8_t> v) {
  for (auto& b : v) b = uint8_t(255 - b);
  return v;
}

// Original CMYK values: ramps that reach 0 and 255 in every channel (clamped at the ends) plus the
// test pattern's texture, so the JPEG has sharp edges as well as flat areas.
std::vector<uint8_t> cmyk_pattern(int w, int h) {
  const auto tex = pattern(w, h, 4, 5);
  std::vector<uint8_t> px(size_t(w) * h * 4);
  const auto clamp = [](int v) { return uint8_t(std::clamp(v, 0, 255)); };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[(size_t(y) * w + x) * 4];
      const uint8_t* t = &tex[(size_t(y) * w + x) * 4];
      p[0] = clamp(-20 + 6 * x);                 // C: 0 .. 255 across (w >= 46)
      p[1] = clamp(280 - 7 * y);                 // M: 255 .. 0 down (h >= 41)
      p[2] = y < h / 2 ? t[2] : clamp(4 * (x + y) - 40);  // Y: texture on top, ramp below
      p[3] = x < w / 2 ? clamp(7 * y - 20) : t[3] / 2;    // K: 0 .. 255 on the left (h >= 40), texture right
    }
  return px;
}

// The conversion on hand-computed values (stored, i.e. inverted, bytes s_c, s_k: R = s_c*s_k/255
// rounded), then against the rounded quotient for every (s_c, s_k).
TEST(ImageDecode, JpegCmykToRgbIsPillowsFormula) {
  struct Case {
    uint8_t cmyk[4];  // as stored in the JPEG (inverted)
    uint8_t rgb[3];
  };
  const Case cases[] = {
      {{255, 255, 255, 255}, {255, 255, 255}},  // C = M = Y = K = 0: white
      {{0, 0, 0, 255}, {0, 0, 0}},              // full C, M, Y, no K: black
      {{255, 255, 255, 0}, {0, 0, 0}},          // K = 255: black whatever C
      {{0, 128, 255, 0}, {0, 0, 0}},
      {{255, 128, 0, 255}, {255, 128, 0}},      // no K: the inverted inks
      {{128, 128, 128, 128}, {64, 64, 64}},     // 128 * 128 / 255 = 64.25
      {{200, 10, 128, 100}, {78, 4, 50}},       // 78.43, 3.92, 50.20
      {{1, 254, 255, 1}, {0, 1, 1}},            // 0.004, 0.996, 1
      {{254, 10, 1, 254}, {253, 10, 1}},        // 253.004, 9.96, 0.996
      {{10, 127, 3, 200}, {8, 100, 2}},         // 7.84, 99.61, 2.35
  };
  for (const Case& tc : cases) {
    uint8_t rgb[3] = {1, 2, 3};
    detail::jpeg_cmyk_to_rgb(tc.cmyk, rgb, 1);
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(int(rgb[c]), int(tc.rgb[c])) << "stored " << int(tc.cmyk[0]) << "," << int(tc.cmyk[1]) << ","
                                             << int(tc.cmyk[2]) << "," << int(tc.cmyk[3]) << " channel " << c;
  }
  // Every (s_c, s_k) pair, 256 pixels per call.
  std::vector<uint8_t> cmyk(256 * 4), rgb(256 * 3);
  for (int k = 0; k < 256; ++k) {
    for (int c = 0; c < 256; ++c) {
      uint8_t* p = &cmyk[size_t(c) * 4];
      p[0] = uint8_t(c);
      p[1] = uint8_t(255 - c);
      p[2] = uint8_t(c ^ 0x5A);
      p[3] = uint8_t(k);
    }
    detail::jpeg_cmyk_to_rgb(cmyk.data(), rgb.data(), 256);
    for (int c = 0; c < 256; ++c)
      for (int ch = 0; ch < 3; ++ch) {
        const int s = cmyk[size_t(c) * 4 + size_t(ch)];
        ASSERT_EQ(int(rgb[size_t(c) * 3 + size_t(ch)]), pillow_channel(255 - s, 255 - k)) << "s " << s << " k " << k;
      }
  }
}

struct CmykFile {
  const char* name;
  CmykJpegSpec spec;
};
const CmykFile kCmykFiles[] = {
    {"cmyk adobe", {.ycck = false, .adobe_marker = true}},
    {"ycck adobe", {.ycck = true, .adobe_marker = true}},
    {"cmyk no marker", {.ycck = false, .adobe_marker = false}},  // Pillow inverts these too
};

// CMYK and YCCK JPEGs (quality 100, no subsampling) written from a known pattern decode through
// libjpeg to Pillow's RGB of that pattern, within the codec's loss.
TEST(ImageDecode, CmykAndYcckJpegDecodeLikePillow) {
  if (!cmyk_jpeg_encoder_available()) GTEST_SKIP() << "the tests were built without libjpeg (no CMYK encoder)";
  if (!libjpeg_available()) GTEST_SKIP() << "libjpeg is not built in: CMYK JPEG goes through stb_image (next test)";
  const int w = 52, h = 44;  // not multiples of 8: partial blocks at the right and bottom edges
  const auto cmyk = cmyk_pattern(w, h);
  const auto want = pillow_rgb_of_cmyk(cmyk);
  DecodeLimits lj;
  lj.jpeg = JpegDecoder::libjpeg;
  std::vector<uint8_t> adobe_cmyk_pixels;
  for (const CmykFile& f : kCmykFiles) {
    SCOPED_TRACE(f.name);
    const auto jpg = encode_jpeg_cmyk(inverted(cmyk), w, h, f.spec);  // Adobe convention: inverted bytes
    ASSERT_EQ(detect_image_format(jpg), ImageFormat::jpeg);
    const ImageInfo info = probe_image(jpg, f.name);
    EXPECT_EQ(info.width, w);
    EXPECT_EQ(info.height, h);
    const Image img = decode_image(jpg, f.name);
    ASSERT_EQ(img.width, w);
    ASSERT_EQ(img.height, h);
    EXPECT_EQ(decode_image(jpg, f.name, lj).pixels, img.pixels);  // automatic is libjpeg
    const int diff = max_abs_diff(img.pixels, want);
    std::printf("%-15s q100 4:4:4: max |decoded - Pillow(pattern)| = %d\n", f.name, diff);
    // JPEG is lossy even at quality 100 (all quantisation steps 1, but the DCT coefficients and the
    // IDCT output are rounded; YCCK adds the colour transform's rounding). Measured with
    // libjpeg-turbo 2.1.5: 2 for CMYK, 3 for YCCK; the bound is the largest plus a margin of 2.
    EXPECT_LE(diff, 5);
    if (!f.spec.ycck && f.spec.adobe_marker) adobe_cmyk_pixels = img.pixels;
    if (!f.spec.adobe_marker) {
      EXPECT_EQ(img.pixels, adobe_cmyk_pixels) << "the same scan with and without the Adobe marker";
    }
  }
}

// A CMYK JPEG without DHT segments: stb_image's path refuses it (see above), libjpeg decodes it. So
// decoding it at all shows that a CMYK JPEG no longer falls back to stb_image.
TEST(ImageDecode, CmykJpegNeverFallsBackToStb) {
  if (!cmyk_jpeg_encoder_available()) GTEST_SKIP() << "the tests were built without libjpeg (no CMYK encoder)";
  if (!libjpeg_available()) GTEST_SKIP() << "libjpeg is not built in";
  const int w = 24, h = 16;
  const auto cmyk = cmyk_pattern(w, h);
  for (const CmykFile& f : kCmykFiles) {
    SCOPED_TRACE(f.name);
    const auto jpg = encode_jpeg_cmyk(inverted(cmyk), w, h, f.spec);
    const auto stripped = strip_dht(jpg);
    ASSERT_LT(stripped.size(), jpg.size()) << "the encoder wrote no DHT segment";
    DecodeLimits stb;
    stb.jpeg = JpegDecoder::stb;
    EXPECT_THROW(decode_image(stripped, "no_dht_cmyk.jpg", stb), FormatError);
    EXPECT_EQ(decode_image(stripped, "no_dht_cmyk.jpg").pixels, decode_image(jpg, "cmyk.jpg").pixels);
  }
}

// JpegDecoder::stb on the same Adobe files: stb_image computes R = s_c * s_k / 255 rounded too
// (stbi__blinn_8x8), so only its IDCT (and, for YCCK, its YCbCr -> RGB) rounding differs. (Without
// the Adobe marker stb ignores K: not Pillow's answer, and not a case stb is used for.)
TEST(ImageDecode, CmykJpegThroughStbIsClose) {
  if (!cmyk_jpeg_encoder_available()) GTEST_SKIP() << "the tests were built without libjpeg (no CMYK encoder)";
  const int w = 52, h = 44;
  const auto cmyk = cmyk_pattern(w, h);
  const auto want = pillow_rgb_of_cmyk(cmyk);
  DecodeLimits stb;
  stb.jpeg = JpegDecoder::stb;
  for (const CmykFile& f : kCmykFiles) {
    if (!f.spec.adobe_marker) continue;
    SCOPED_TRACE(f.name);
    const auto jpg = encode_jpeg_cmyk(inverted(cmyk), w, h, f.spec);
    const Image img = decode_image(jpg, f.name, stb);
    ASSERT_EQ(img.width, w);
    ASSERT_EQ(img.height, h);
    const int diff = max_abs_diff(img.pixels, want);
    const int vs_libjpeg = libjpeg_available() ? max_abs_diff(img.pixels, decode_image(jpg, f.name).pixels) : -1;
    std::printf("%-15s stb: max |stb - Pillow(pattern)| = %d, max |stb - libjpeg| = %d\n", f.name, diff, vs_libjpeg);
    // Measured (stb 2.27, libjpeg-turbo 2.1.5): against the pattern 2 (CMYK) and 3 (YCCK), against
    // libjpeg 1 and 2; the bounds are the largest plus a margin of 2.
    EXPECT_LE(diff, 5);
    EXPECT_LE(vs_libjpeg, 4);
  }
}

TEST(ImageDecode, PngCrcMismatchIsRefused) {
  auto png = encode_png(pattern(16, 16, 3), 16, 16, 3);
  png[png.size() - 20] ^= 0x40;  // inside IDAT's data (IEND is the last 12 bytes)
  expect_error<FormatError>([&] { decode_image(png, "bad.png"); }, {"bad.png", "CRC"});
}

uint32_t crc32_of(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}
void put_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v);
}

// Headers that announce gigantic images are refused from the header, before any allocation.
TEST(ImageDecode, HugeHeadersAreRefusedBeforeAllocating) {
  // PNG: IHDR says 60000 x 60000 (CRC fixed so that only the size is wrong).
  auto png = encode_png(pattern(4, 4, 3), 4, 4, 3);
  put_be32(&png[16], 60000);
  put_be32(&png[20], 60000);
  put_be32(&png[29], crc32_of(&png[12], 17));
  expect_error<FormatError>([&] { decode_image(png, "huge.png"); }, {"huge.png", "60000x60000", "exceed"});

  // JPEG: SOF0 says 65000 x 65000.
  auto jpg = encode_jpeg(pattern(8, 8, 3), 8, 8, 3, 90);
  for (size_t i = 2; i + 9 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = 0xFD; jpg[i + 6] = 0xE8;  // height 65000
      jpg[i + 7] = 0xFD; jpg[i + 8] = 0xE8;  // width 65000
      break;
    }
  expect_error<FormatError>([&] { decode_image(jpg, "huge.jpg"); }, {"huge.jpg", "65000x65000"});

  // BMP: 100000 x 100000.
  auto bmp = encode_bmp(pattern(4, 4, 3), 4, 4, 3);
  for (int off : {18, 22}) {
    const uint32_t v = 100000;
    bmp[off] = uint8_t(v); bmp[off + 1] = uint8_t(v >> 8); bmp[off + 2] = uint8_t(v >> 16); bmp[off + 3] = uint8_t(v >> 24);
  }
  EXPECT_THROW(decode_image(bmp, "huge.bmp"), FormatError);

  // TIFF: ImageWidth / ImageLength patched to 1,000,000 (LONG or SHORT entries in the first IFD).
  auto tif = encode_tiff(pattern(4, 4, 3), {.width = 4, .height = 4});
  const uint32_t ifd = tif[4] | (tif[5] << 8) | (tif[6] << 16) | (uint32_t(tif[7]) << 24);
  const int entries = tif[ifd] | (tif[ifd + 1] << 8);
  for (int e = 0; e < entries; ++e) {
    uint8_t* ent = &tif[ifd + 2 + 12 * e];
    const int tag = ent[0] | (ent[1] << 8);
    if (tag == 256 || tag == 257) {
      ent[2] = 4; ent[3] = 0;  // type LONG
      ent[4] = 1; ent[5] = ent[6] = ent[7] = 0;
      const uint32_t v = 1000000;
      ent[8] = uint8_t(v); ent[9] = uint8_t(v >> 8); ent[10] = uint8_t(v >> 16); ent[11] = uint8_t(v >> 24);
    }
  }
  expect_error<FormatError>([&] { decode_image(tif, "huge.tif"); }, {"huge.tif"});

  // A normal image beyond a caller's tighter limits.
  DecodeLimits lim;
  lim.max_side = 16;
  expect_error<FormatError>([&] { decode_image(encode_png(pattern(17, 4, 3), 17, 4, 3), "wide.png", lim); },
                            {"wide.png", "17x4", "exceed"});
}

}  // namespace
}  // namespace rscapret::data
