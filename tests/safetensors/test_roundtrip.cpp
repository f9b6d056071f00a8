// Round trips of every dtype and layout, zero-copy reads, alignment, and the in-memory validator.
#include <cstdint>

#include "tests/safetensors/st_test_util.h"

namespace rscapret::testing {
namespace {

// Fills a contiguous tensor with distinct, exactly representable values (bool: 0/1 only).
Tensor patterned(const Shape& shape, DType dt) {
  Tensor t = Tensor::empty(shape, dt);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float v = float(i) * 0.5f - 3.0f;
    void* p = static_cast<char*>(t.raw_data()) + i * int64_t(t.element_size());
    switch (dt) {
      case DType::f32: std::memcpy(p, &v, 4); break;
      case DType::f64: { const double d = v; std::memcpy(p, &d, 8); break; }
      case DType::f16: { const uint16_t h = f32_to_f16(v); std::memcpy(p, &h, 2); break; }
      case DType::bf16: { const uint16_t h = f32_to_bf16(v); std::memcpy(p, &h, 2); break; }
      case DType::i32: { const int32_t x = int32_t(i * 7 - 20); std::memcpy(p, &x, 4); break; }
      case DType::i64: { const int64_t x = i * 1000000007LL - 5; std::memcpy(p, &x, 8); break; }
      case DType::u8: *static_cast<uint8_t*>(p) = uint8_t(i * 37 + 11); break;
      case DType::i8: *static_cast<int8_t*>(p) = int8_t(int(i * 37 + 11) % 256 - 128); break;
      case DType::boolean: *static_cast<uint8_t*>(p) = uint8_t(i % 3 == 0); break;
    }
  }
  return t;
}

struct Layout {
  const char* name;
  Tensor (*make)(DType);
};
const Layout kLayouts[] = {
    {"contiguous", [](DType d) { return patterned({3, 5}, d); }},
    {"transposed", [](DType d) { return patterned({3, 5}, d).transpose(0, 1); }},
    {"strided_slice", [](DType d) { return patterned({4, 6, 2}, d).slice(1, 1, 6, 2).select(2, 1); }},
    {"expanded", [](DType d) { return patterned({1, 4}, d).expand({3, 4}); }},
    {"scalar_0d", [](DType d) { return patterned({}, d); }},
    {"empty_0x4", [](DType d) { return patterned({0, 4}, d); }},
    {"empty_2x0x3", [](DType d) { return patterned({2, 0, 3}, d); }},
};

class RoundTrip : public TempDirTest {};

TEST_F(RoundTrip, EveryDTypeEveryLayout) {
  std::vector<std::pair<std::string, Tensor>> in;
  for (DType dt : kAllDTypes)
    for (const Layout& l : kLayouts) in.emplace_back(cat(dtype_name(dt), "/", l.name), l.make(dt));
  const fs::path path = dir_ / "all.safetensors";
  save_safetensors(path, in, {{"format", "pt"}, {"note", "round trip"}});

  SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("note"), "round trip");
  EXPECT_EQ(f.names().size(), in.size());
  for (const auto& [name, src] : in) {
    SCOPED_TRACE(name);
    const Tensor got = f.get(name);
    EXPECT_EQ(got.dtype(), src.dtype());
    EXPECT_EQ(got.shape(), src.shape());
    EXPECT_TRUE(got.is_contiguous());
    EXPECT_EQ(logical_bytes(got), logical_bytes(src));
  }
}

TEST_F(RoundTrip, LoadedTensorsAreZeroCopyReadOnlyAndOutliveTheFile) {
  const fs::path path = dir_ / "z.safetensors";
  save_safetensors(path, {{"w", patterned({7, 3}, DType::f32)}, {"b", patterned({5}, DType::bf16)},
                          {"m", patterned({3}, DType::boolean)}, {"i", patterned({2}, DType::i64)}});
  Tensor w;
  {
    SafetensorsFile f(path);
    const uint8_t* lo = f.mapping().data();
    const uint8_t* hi = lo + f.mapping().size();
    for (const auto& name : f.names()) {
      const Tensor t = f.get(name);
      const auto* p = static_cast<const uint8_t*>(t.raw_data());
      EXPECT_TRUE(p >= lo && p + t.numel() * int64_t(t.element_size()) <= hi) << name << " was copied";
      EXPECT_TRUE(t.storage()->read_only()) << name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % t.element_size(), 0u) << name << " misaligned";
    }
    w = f.get("w");
  }  // the file object is gone; the tensor's storage still owns the mapping
  EXPECT_EQ(logical_bytes(w), logical_bytes(patterned({7, 3}, DType::f32)));
}

TEST_F(RoundTrip, MisalignedTensorIsCopiedAligned) {
  // U8 [0,1) then F32 [1,5): a valid file, but the F32 bytes sit at an odd address.
  const float v = 1.5f;
  std::string file = raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                              R"("b":{"dtype":"F32","shape":[],"data_offsets":[1,5]}})", 0);
  file += char(7);
  file.append(reinterpret_cast<const char*>(&v), 4);
  write_bytes(dir_ / "odd.safetensors", file);
  SafetensorsFile f(dir_ / "odd.safetensors");
  const Tensor b = f.get("b");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.raw_data()) % 4, 0u);
  EXPECT_EQ(*b.data<float>(), 1.5f);
  EXPECT_EQ(*f.get("a").data<uint8_t>(), 7);
}

TEST_F(RoundTrip, LayoutIsAlignedAndDeterministic) {
  const std::vector<std::pair<std::string, Tensor>> in = {
      {"z_u8", patterned({3}, DType::u8)}, {"a_f16", patterned({3}, DType::f16)},
      {"m_i64", patterned({2}, DType::i64)}, {"b_f32", patterned({1}, DType::f32)}};
  save_safetensors(dir_ / "1.safetensors", in);
  std::vector<std::pair<std::string, Tensor>> reversed(in.rbegin(), in.rend());
  save_safetensors(dir_ / "2.safetensors", reversed);
  const std::string bytes = read_bytes(dir_ / "1.safetensors");
  EXPECT_EQ(bytes, read_bytes(dir_ / "2.safetensors"));  // input order does not matter
  const SafetensorsHeader h = parse_safetensors(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "1.safetensors");
  EXPECT_EQ(h.data_start % 8, 0u);
  for (const auto& e : h.entries) EXPECT_EQ(e.begin % dtype_size(e.dtype), 0u) << e.name;
  // Largest elements first: i64 at 0, then f32, f16, u8.
  EXPECT_EQ(h.entries[2].name, "m_i64");
  EXPECT_EQ(h.entries[2].begin, 0u);
  EXPECT_EQ(bytes.substr(8, 10), R"({"m_i64":{)");
}

TEST(SafetensorsMemory, ParsesFromABuffer) {
  const std::string file = raw_file(R"({"__metadata__":{"k":"v"},"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8);
  const SafetensorsHeader h =
      parse_safetensors({reinterpret_cast<const uint8_t*>(file.data()), file.size()}, "buffer");
  ASSERT_EQ(h.entries.size(), 1u);
  EXPECT_EQ(h.entries[0].name, "x");
  EXPECT_EQ(h.entries[0].dtype, DType::i32);
  EXPECT_EQ(h.entries[0].shape, (Shape{2}));
  EXPECT_EQ(h.metadata.at("k"), "v");
  EXPECT_EQ(h.data_start, file.size() - 8);
}

TEST(SafetensorsMemory, DTypeNames) {
  for (DType dt : kAllDTypes) EXPECT_FALSE(safetensors_dtype_name(dt).empty());
  EXPECT_EQ(safetensors_dtype_name(DType::bf16), "BF16");
  EXPECT_EQ(safetensors_dtype_name(DType::boolean), "BOOL");
}

}  // namespace
}  // namespace rscapret::testing
