// Decode + CLIP preprocessing throughput on UCM images, one thread, and the DataLoader end to end.
// UCM's originals are uncompressed RGB TIFFs; the shared copy stores the test split as PNG with the
// same pixels, so the TIFF cases re-encode those 210 PNGs as uncompressed TIFF (in memory, and in a
// temp folder for the loader), like the original files. The fixture's real ucm_1.tif is timed too.
//   ./build-data/bench/data/bench_data
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <tiffio.h>

#include "train/data/caption_dataset.h"
#include "train/data/clip_preprocess.h"
#include "train/data/image.h"
#include "train/data/loader.h"

namespace {

using namespace rscapret::data;

std::filesystem::path shared(const std::string& rel) {
  const char* env = std::getenv("RSCAPRET_SHARED");
  return std::filesystem::path(env ? env : RSCAPRET_DEFAULT_SHARED) / rel;
}

std::vector<uint8_t> encode_tiff(const Image& img, const std::filesystem::path& path) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  if (!t) throw std::runtime_error("TIFFOpen " + path.string());
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, uint32_t(img.width));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, uint32_t(img.height));
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, uint16_t(3));
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, uint16_t(8));
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, uint16_t(PHOTOMETRIC_RGB));
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, uint16_t(PLANARCONFIG_CONTIG));
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));
  for (int y = 0; y < img.height; ++y) TIFFWriteScanline(t, const_cast<uint8_t*>(img.row(y)), uint32_t(y), 0);
  TIFFClose(t);
  return read_file(path);
}

struct UcmSet {
  CaptionDataset test;                     // 210 PNG (test split)
  CaptionDataset train;                    // 1680 JPEG
  CaptionDataset tiffs;                    // the 210 test images as TIFF files
  std::vector<std::vector<uint8_t>> tiff_bytes, jpeg_bytes, png_bytes;
  std::filesystem::path dir;
  bool ok = false;
};

const UcmSet& ucm() {
  static UcmSet s = [] {
    UcmSet u;
    const auto json = shared("data/ucm/dataset_ucm.json");
    if (!std::filesystem::exists(json)) return u;
    const CaptionSource src{json, shared("data/ucm/images"), ""};
    u.test = CaptionDataset::load(src, {"test"});
    u.train = CaptionDataset::load(src, {"train"});
    u.dir = std::filesystem::path(RSCAPRET_BINARY_DIR) / ("bench_data_tiff_" + std::to_string(getpid()));
    std::filesystem::create_directories(u.dir);
    std::vector<size_t> all;
    for (size_t i = 0; i < u.test.size(); ++i) {
      u.png_bytes.push_back(read_file(u.test[i].image_path));
      const auto tif = u.dir / u.test[i].image_path.filename().replace_extension(".tif");
      u.tiff_bytes.push_back(encode_tiff(decode_image(u.png_bytes.back()), tif));
      all.push_back(i);
    }
    u.tiffs = u.test.subset(all);
    // The loader reads the TIFF files: point the samples at them.
    std::string json_text = R"({"dataset": "UCM-tif", "images": [)";
    for (size_t i = 0; i < u.test.size(); ++i)
      json_text += std::string(i ? "," : "") + R"({"filename": ")" +
                   u.test[i].image_path.filename().replace_extension(".tif").string() +
                   R"(", "split": "test", "sentences": [{"raw": "x"}]})";
    u.tiffs = CaptionDataset::parse(json_text + "]}", u.dir, "ucm_tif.json");
    for (size_t i = 0; i < 210; ++i) u.jpeg_bytes.push_back(read_file(u.train[i * 8].image_path));
    u.ok = true;
    return u;
  }();
  return s;
}

void images_per_second(benchmark::State& state, int64_t per_iteration) {
  state.counters["images/s"] = benchmark::Counter(double(per_iteration), benchmark::Counter::kIsIterationInvariantRate);
}

void decode_preprocess(benchmark::State& state, const std::vector<std::vector<uint8_t>>& files, JpegDecoder jpeg,
                       bool preprocess) {
  if (files.empty()) return state.SkipWithError("needs data/ucm of the shared files (set RSCAPRET_SHARED)");
  DecodeLimits lim;
  lim.jpeg = jpeg;
  std::vector<float> out(3 * 224 * 224);
  for (auto _ : state)
    for (const auto& f : files) {
      const Image img = decode_image(f, "bench", lim);
      if (preprocess) clip_preprocess_into(img, {}, out.data());
      benchmark::DoNotOptimize(out.data());
    }
  images_per_second(state, int64_t(files.size()));
}

void BM_TiffDecode(benchmark::State& s) { decode_preprocess(s, ucm().tiff_bytes, JpegDecoder::automatic, false); }
void BM_TiffDecodePreprocess(benchmark::State& s) { decode_preprocess(s, ucm().tiff_bytes, JpegDecoder::automatic, true); }
void BM_PngDecodePreprocess(benchmark::State& s) { decode_preprocess(s, ucm().png_bytes, JpegDecoder::automatic, true); }
void BM_JpegDecodePreprocess_libjpeg(benchmark::State& s) {
  if (!libjpeg_available()) return s.SkipWithError("built without libjpeg");
  decode_preprocess(s, ucm().jpeg_bytes, JpegDecoder::libjpeg, true);
}
void BM_JpegDecodePreprocess_stb(benchmark::State& s) { decode_preprocess(s, ucm().jpeg_bytes, JpegDecoder::stb, true); }

// The fixture's real UCM TIFF (256 x 256, uncompressed), read from disk each time.
void BM_RealTiffFileDecodePreprocess(benchmark::State& state) {
  const auto path = shared("fixtures/clip_preprocess/sources/ucm_1.tif");
  if (!std::filesystem::exists(path)) return state.SkipWithError("needs the fixtures");
  std::vector<float> out(3 * 224 * 224);
  for (auto _ : state) {
    clip_preprocess_into(load_image(path), {}, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  images_per_second(state, 1);
}

// Preprocessing alone (resize 256 -> 224, crop, normalise), from a decoded image.
void BM_PreprocessOnly(benchmark::State& state) {
  if (ucm().tiff_bytes.empty()) return state.SkipWithError("needs data/ucm of the shared files (set RSCAPRET_SHARED)");
  const Image img = decode_image(ucm().tiff_bytes[0]);
  std::vector<float> out(3 * 224 * 224);
  for (auto _ : state) {
    clip_preprocess_into(img, {}, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  images_per_second(state, 1);
}

// The DataLoader over the 210 TIFF files: batches of 30, arg = decoding threads.
void BM_LoaderTiffFiles(benchmark::State& state) {
  if (!ucm().ok) return state.SkipWithError("needs data/ucm of the shared files (set RSCAPRET_SHARED)");
  LoaderOptions o;
  o.batch_size = 30;
  o.num_threads = int(state.range(0));
  DataLoader loader(ucm().tiffs, o);
  int64_t epoch = 0;
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    int64_t rows = 0;
    while (auto b = loader.next()) rows += b->size();
    if (rows != 210) state.SkipWithError("images were skipped");
  }
  images_per_second(state, 210);
}

BENCHMARK(BM_TiffDecode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TiffDecodePreprocess)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RealTiffFileDecodePreprocess)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PreprocessOnly)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PngDecodePreprocess)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JpegDecodePreprocess_libjpeg)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JpegDecodePreprocess_stb)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoaderTiffFiles)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (ucm().ok) std::filesystem::remove_all(ucm().dir);
  return 0;
}
