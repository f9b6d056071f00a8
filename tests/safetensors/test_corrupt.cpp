// Corrupt and hostile files: each must give a FormatError that names the file and the problem.
#include "tests/safetensors/st_test_util.h"

namespace rscapret::testing {
namespace {

// A valid two-tensor header: a F32[2] at [0,8), b I64[1] at [8,16).
const std::string kGood = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})";

std::string one(const std::string& entry) { return R"({"t":)" + entry + "}"; }

struct Case {
  const char* name;
  std::string bytes;
  const char* expect;  // a substring of the message
};

std::vector<Case> cases() {
  const std::string good = raw_file(kGood, 16);
  return {
      // -- the frame
      {"empty_file", "", "too short"},
      {"shorter_than_length", "abc", "too short"},
      {"truncated_data", good.substr(0, good.size() - 3), "run past the data section"},
      {"truncated_header", good.substr(0, 30), "runs past the end of the file"},
      {"lying_header_length", raw_file(kGood, 16, 5000), "runs past the end of the file"},
      {"absurd_header_length", raw_file(kGood, 16, 1ull << 40), "exceeds the limit"},
      {"max_header_length", raw_file(kGood, 16, ~0ull - 1), "exceeds the limit"},
      {"zero_header_length", raw_file("", 0), "does not start with '{'"},
      {"trailing_bytes", raw_file(kGood, 20), "cover only 16"},
      // -- the JSON
      {"bad_json", raw_file(R"({"a":{"dtype":"F32",)", 0), "not valid JSON"},
      {"json_array", raw_file("[1,2]", 0), "does not start with '{'"},
      {"not_utf8", raw_file("{\"\xff\xfe\":1}", 0), "not valid JSON"},
      {"number_overflow", raw_file(one(R"({"dtype":"F32","shape":[1e400],"data_offsets":[0,4]})"), 4), "not valid JSON"},
      {"duplicate_name", raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                  R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2), "repeats the key 'a'"},
      {"deep_nesting", raw_file(one(std::string(50, '[') + std::string(50, ']')), 0), "nests deeper"},
      {"entry_not_object", raw_file(one("7"), 0), "not an object"},
      {"metadata_not_strings", raw_file(R"({"__metadata__":{"n":3}})", 0), "'n' is a number"},
      // -- fields
      {"missing_dtype", raw_file(one(R"({"shape":[1],"data_offsets":[0,4]})"), 4), "no \"dtype\""},
      {"missing_shape", raw_file(one(R"({"dtype":"F32","data_offsets":[0,4]})"), 4), "no \"shape\""},
      {"missing_offsets", raw_file(one(R"({"dtype":"F32","shape":[1]})"), 4), "no \"data_offsets\""},
      {"dtype_not_string", raw_file(one(R"({"dtype":5,"shape":[1],"data_offsets":[0,4]})"), 4), "dtype is a number"},
      {"shape_not_array", raw_file(one(R"({"dtype":"F32","shape":"1","data_offsets":[0,4]})"), 4), "shape is a string"},
      {"offsets_one_number", raw_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[4]})"), 4), "[begin, end]"},
      {"offset_float", raw_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4.0]})"), 4), "not an integer"},
      // -- dtypes
      {"unknown_dtype", raw_file(one(R"({"dtype":"Q7","shape":[1],"data_offsets":[0,4]})"), 4), "unknown dtype 'Q7'"},
      {"unsupported_dtype", raw_file(one(R"({"dtype":"I16","shape":[2],"data_offsets":[0,4]})"), 4), "I16, which rscapret does not support"},
      {"fp8_dtype", raw_file(one(R"({"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]})"), 4), "F8_E4M3"},
      // -- shapes
      {"negative_dim", raw_file(one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), 4), "dimension -1 is negative"},
      {"fractional_dim", raw_file(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), 4), "not an integer"},
      {"dim_above_int64", raw_file(one(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})"), 4), "absurdly large"},
      {"dims_overflow", raw_file(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]})"), 0), "overflows"},
      {"bytes_overflow", raw_file(one(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]})"), 8), "overflows 64 bits in bytes"},
      {"zero_dim_hides_overflow", raw_file(one(R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})"), 0), "overflows"},
      {"too_many_dims", raw_file(one(R"({"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]})"), 1), "at most 8"},
      // -- offsets
      {"wrong_byte_size", raw_file(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), 8), "needs 12 bytes"},
      {"begin_after_end", raw_file(one(R"({"dtype":"U8","shape":[0],"data_offsets":[4,0]})"), 4), "begin after end"},
      {"offsets_past_data", raw_file(one(R"({"dtype":"U8","shape":[4],"data_offsets":[8,12]})"), 4), "run past the data section"},
      {"negative_offset", raw_file(one(R"({"dtype":"U8","shape":[4],"data_offsets":[-4,0]})"), 4), "is negative"},
      {"overlap", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "overlap"},
      {"identical_offsets", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), "overlap"},
      {"hole", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20), "belong to no tensor"},
  };
}

class Corrupt : public TempDirTest {};

TEST_F(Corrupt, EachGivesAClearFormatError) {
  const auto all = cases();
  for (const Case& c : all) {
    SCOPED_TRACE(c.name);
    const fs::path p = dir_ / (std::string(c.name) + ".safetensors");
    write_bytes(p, c.bytes);
    expect_format_error(p, c.expect);
  }
  EXPECT_GE(all.size(), 40u);
}

TEST_F(Corrupt, GoodBaselineLoads) {
  // The corruptions above are mutations of this file; it must itself be fine.
  write_bytes(dir_ / "good.safetensors", raw_file(kGood, 16));
  SafetensorsFile f(dir_ / "good.safetensors");
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.get("b").shape(), (Shape{1}));
}

TEST_F(Corrupt, BoolBytesOtherThanZeroOrOneAreRefused) {
  // Reading the byte 2 as a C++ bool is undefined behaviour, so the reader checks BOOL bytes.
  std::string file = raw_file(one(R"({"dtype":"BOOL","shape":[3],"data_offsets":[0,3]})"), 0);
  file += std::string("\x01\x00\x02", 3);
  write_bytes(dir_ / "bool.safetensors", file);
  SafetensorsFile f(dir_ / "bool.safetensors");
  EXPECT_THROW(f.get("t"), FormatError);
}

TEST_F(Corrupt, MissingFileAndFolderGiveIOError) {
  EXPECT_THROW(SafetensorsFile(dir_ / "absent.safetensors"), IOError);
  EXPECT_THROW(SafetensorsFile{dir_}, IOError);
  try {
    SafetensorsFile f(dir_ / "absent.safetensors");
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.safetensors"), std::string::npos) << e.what();
  }
}

TEST_F(Corrupt, UnknownNameIsAnIndexError) {
  write_bytes(dir_ / "good.safetensors", raw_file(kGood, 16));
  SafetensorsFile f(dir_ / "good.safetensors");
  EXPECT_FALSE(f.contains("c"));
  EXPECT_THROW(f.get("c"), IndexError);
}

TEST(MappedFileTest, EmptyFileMapsToNothing) {
  const fs::path p = fs::temp_directory_path() / ("rscapret_empty_" + std::to_string(::getpid()));
  write_bytes(p, "");
  const auto m = MappedFile::open(p);
  EXPECT_EQ(m->size(), 0u);
  EXPECT_TRUE(m->bytes().empty());
  fs::remove(p);
}

}  // namespace
}  // namespace rscapret::testing
