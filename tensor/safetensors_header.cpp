// Parsing and validation of a safetensors header (see safetensors.h for the rules). Everything a
// hostile file controls goes through here; the readers trust only what this returns.
#include <algorithm>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "tensor/safetensors.h"

namespace rscapret {

namespace {

using json = nlohmann::json;

// Root object -> entry object -> shape array: nothing legitimate nests deeper than 3.
constexpr int kMaxJsonDepth = 4;

[[noreturn]] void fail(const std::string& source, const std::string& problem) {
  throw FormatError(cat("[safetensors] ", source, ": ", problem));
}

// Names come from the file: keep a hostile multi-megabyte name out of the error message.
std::string clip(const std::string& name) {
  return name.size() <= 80 ? name : name.substr(0, 80) + "...";
}

struct DTypeName {
  const char* name;
  DType dtype;
};
constexpr DTypeName kDTypeNames[] = {
    {"F32", DType::f32}, {"F64", DType::f64}, {"F16", DType::f16}, {"BF16", DType::bf16},
    {"I32", DType::i32}, {"I64", DType::i64}, {"U8", DType::u8},   {"I8", DType::i8}, {"BOOL", DType::boolean}};
// Valid in the format but not representable here; named so the error can say "unsupported"
// rather than "unknown".
constexpr const char* kUnsupportedDTypes[] = {"I16",      "U16",      "U32",
                                              "U64",     "F8_E4M3",  "F8_E5M2",  "F8_E8M0",
                                              "F6_E2M3", "F6_E3M2",  "F4",       "C64"};

DType parse_dtype(const json& v, const std::string& name, const std::string& source) {
  if (!v.is_string()) fail(source, cat("tensor '", clip(name), "': dtype is a ", v.type_name(), ", not a string"));
  const auto& s = v.get_ref<const std::string&>();
  for (const auto& d : kDTypeNames)
    if (s == d.name) return d.dtype;
  for (const char* u : kUnsupportedDTypes)
    if (s == u)
      fail(source, cat("tensor '", clip(name), "' has dtype ", s,
                       ", which rscapret does not support (F32 F64 F16 BF16 I32 I64 U8 I8 BOOL)"));
  fail(source, cat("tensor '", clip(name), "' has unknown dtype '", s.substr(0, 32), "'"));
}

// A JSON integer in [0, max]; floats, negatives and larger values are refused.
uint64_t parse_count(const json& v, uint64_t max, const char* what, const std::string& name,
                     const std::string& source) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u <= max) return u;
    fail(source, cat("tensor '", clip(name), "': ", what, " ", u, " is absurdly large"));
  }
  if (v.is_number_integer())  // signed and not unsigned: negative
    fail(source, cat("tensor '", clip(name), "': ", what, " ", v.get<int64_t>(), " is negative"));
  fail(source, cat("tensor '", clip(name), "': ", what, " is a ", v.type_name(), ", not an integer"));
}

const json& field(const json& entry, const char* key, const std::string& name, const std::string& source) {
  const auto it = entry.find(key);
  if (it == entry.end()) fail(source, cat("tensor '", clip(name), "' has no \"", key, "\""));
  return *it;
}

SafetensorsEntry parse_entry(const std::string& name, const json& e, uint64_t data_bytes,
                             const std::string& source) {
  if (!e.is_object()) fail(source, cat("tensor '", clip(name), "': entry is a ", e.type_name(), ", not an object"));
  SafetensorsEntry out;
  out.name = name;
  out.dtype = parse_dtype(field(e, "dtype", name, source), name, source);

  const json& shape = field(e, "shape", name, source);
  if (!shape.is_array()) fail(source, cat("tensor '", clip(name), "': shape is a ", shape.type_name(), ", not an array"));
  if (shape.size() > size_t(kMaxDims))
    fail(source, cat("tensor '", clip(name), "' has ", shape.size(), " dimensions; at most ", kMaxDims, " supported"));
  // The element count must fit int64 even when a zero dimension makes it 0 (strides are products
  // of dimensions too), so overflow is checked on the product of the nonzero dimensions.
  uint64_t nonzero_product = 1;
  bool has_zero = false;
  for (const json& d : shape) {
    const uint64_t n = parse_count(d, uint64_t(std::numeric_limits<int64_t>::max()), "dimension", name, source);
    out.shape.push_back(int64_t(n));
    if (n == 0) { has_zero = true; continue; }
    if (__builtin_mul_overflow(nonzero_product, n, &nonzero_product) ||
        nonzero_product > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(source, cat("tensor '", clip(name), "': shape ", format_shape(out.shape), "... overflows 64 bits"));
  }
  uint64_t nbytes = 0;
  if (!has_zero && __builtin_mul_overflow(nonzero_product, uint64_t(dtype_size(out.dtype)), &nbytes))
    fail(source, cat("tensor '", clip(name), "': shape ", format_shape(out.shape), " overflows 64 bits in bytes"));

  const json& off = field(e, "data_offsets", name, source);
  if (!off.is_array() || off.size() != 2)
    fail(source, cat("tensor '", clip(name), "': data_offsets must be an array [begin, end], got ", off.dump().substr(0, 64)));
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  out.begin = parse_count(off[0], max, "data_offsets begin", name, source);
  out.end = parse_count(off[1], max, "data_offsets end", name, source);
  if (out.begin > out.end)
    fail(source, cat("tensor '", clip(name), "': data_offsets [", out.begin, ",", out.end, "] begin after end"));
  if (out.end > data_bytes)
    fail(source, cat("tensor '", clip(name), "': data_offsets [", out.begin, ",", out.end,
                     "] run past the data section (", data_bytes, " bytes)"));
  if (out.end - out.begin != nbytes)
    fail(source, cat("tensor '", clip(name), "': ", safetensors_dtype_name(out.dtype), format_shape(out.shape),
                     " needs ", nbytes, " bytes but data_offsets [", out.begin, ",", out.end, "] hold ",
                     out.end - out.begin));
  return out;
}

std::map<std::string, std::string> parse_metadata(const json& m, const std::string& source) {
  if (!m.is_object()) fail(source, cat("__metadata__ is a ", m.type_name(), ", not an object"));
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : m.items()) {
    if (!v.is_string()) fail(source, cat("__metadata__ '", clip(k), "' is a ", v.type_name(), ", not a string"));
    out[k] = v.get<std::string>();
  }
  return out;
}

// The tensors, sorted by offset, must tile [0, data_bytes) exactly (see safetensors.h).
void check_tiling(std::vector<const SafetensorsEntry*> order, uint64_t data_bytes, const std::string& source) {
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry* e : order) {
    if (e->begin < covered)
      fail(source, cat("tensors '", clip(prev->name), "' [", prev->begin, ",", prev->end, "] and '", clip(e->name), "' [",
                       e->begin, ",", e->end, "] overlap"));
    if (e->begin > covered)
      fail(source, cat("bytes [", covered, ",", e->begin, ") of the data section belong to no tensor (before '",
                       clip(e->name), "')"));
    covered = e->end;
    prev = e;
  }
  if (covered != data_bytes)
    fail(source, cat("data section has ", data_bytes, " bytes but the tensors cover only ", covered));
}

json parse_json(const char* begin, const char* end, const std::string& source) {
  // The callback bounds nesting and rejects duplicate keys, which JSON parsers otherwise resolve
  // silently (last wins) and which would let two headers disagree about one file.
  std::vector<std::set<std::string>> keys;
  const json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth > kMaxJsonDepth) fail(source, cat("header nests deeper than ", kMaxJsonDepth, " levels"));
    if (ev == json::parse_event_t::object_start) keys.emplace_back();
    else if (ev == json::parse_event_t::object_end) keys.pop_back();
    else if (ev == json::parse_event_t::key && !keys.empty() &&
             !keys.back().insert(parsed.get<std::string>()).second)
      fail(source, cat("header repeats the key '", clip(parsed.get<std::string>()), "'"));
    return true;
  };
  try {
    return json::parse(begin, end, cb);
  } catch (const json::exception& e) {  // parse errors, number overflow, bad UTF-8
    fail(source, cat("header is not valid JSON: ", e.what()));
  }
}

}  // namespace

std::string_view safetensors_dtype_name(DType t) {
  for (const auto& d : kDTypeNames)
    if (d.dtype == t) return d.name;
  RS_ASSERT(false, "dtype without a safetensors name");
}

SafetensorsHeader parse_safetensors(std::span<const uint8_t> bytes, const std::string& source) {
  if (bytes.size() < 8)
    fail(source, cat("file is ", bytes.size(), " bytes, too short for the 8-byte header length"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | bytes[size_t(i)];  // little-endian on any host
  if (n > kSafetensorsMaxHeaderBytes)
    fail(source, cat("header length ", n, " exceeds the limit of ", kSafetensorsMaxHeaderBytes, " bytes"));
  if (n > bytes.size() - 8)
    fail(source, cat("header length ", n, " runs past the end of the file (", bytes.size(), " bytes)"));
  const char* text = reinterpret_cast<const char*>(bytes.data()) + 8;
  if (n == 0 || text[0] != '{') fail(source, "header does not start with '{'");

  const json root = parse_json(text, text + n, source);
  if (!root.is_object()) fail(source, cat("header is a JSON ", root.type_name(), ", not an object"));

  SafetensorsHeader out;
  out.data_start = 8 + n;
  const uint64_t data_bytes = bytes.size() - out.data_start;
  for (const auto& [key, value] : root.items()) {  // json objects iterate in key order
    if (key == "__metadata__") out.metadata = parse_metadata(value, source);
    else out.entries.push_back(parse_entry(key, value, data_bytes, source));
  }
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : out.entries) order.push_back(&e);
  check_tiling(std::move(order), data_bytes, source);
  return out;
}

}  // namespace rscapret
