// The C library (api/rscapret.h) over the C++ pipeline: every entry point validates its arguments,
// runs under one process-wide lock, and turns exceptions into a status plus a thread-local message.
#include "api/rscapret.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "api/model_setup.h"
#include "api/pipeline.h"
#include "kernels/cpu/gemm.h"
#include "models/rscapret/chat.h"
#include "models/rscapret/retrieval.h"
#include "tensor/error.h"
#include "tensor/thread_pool.h"

#ifndef RSCAPRET_VERSION_STRING
#define RSCAPRET_VERSION_STRING "unknown"
#endif

// Handles share what they hold, so a chat outlives the model and index handles it was made from.
struct rscapret_model {
  std::shared_ptr<const rscapret::models::RsCapRetBundle> bundle;
  std::string dir;  // as given: index metadata and messages
  int image_size() const { return int(bundle->model->clip().config().vision.image_size); }
};

struct rscapret_index {
  std::shared_ptr<const rscapret::models::ImageIndex> index;
};

struct rscapret_chat {
  rscapret_chat(const rscapret_model& m, const rscapret::models::ChatOptions& opt)
      : model(m), chat(*model.bundle, opt) {}
  rscapret_model model;  // a copy sharing the bundle; before chat, which refers to it
  rscapret::models::RsCapRetChat chat;
};
namespace {

using namespace rscapret;

thread_local std::string last_error;

std::mutex& compute_mutex() {
  static std::mutex m;
  return m;
}

// The message of a failing call: "fn: what", without what's own "[fn] " when it has one. If even
// that allocation fails, the message says so from static storage.
thread_local bool last_error_lost = false;

rscapret_status fail(rscapret_status s, const char* fn, const char* what) noexcept {
  try {
    const std::string own = std::string("[") + fn + "] ";
    if (std::strncmp(what, own.c_str(), own.size()) == 0) what += own.size();
    last_error = std::string(fn) + ": " + what;
    last_error_lost = false;
  } catch (...) {
    last_error_lost = true;
  }
  return s;
}

// The status of an error, by its class.
rscapret_status status_of(const std::exception& e) {
  if (dynamic_cast<const ValueError*>(&e) || dynamic_cast<const ShapeError*>(&e) || dynamic_cast<const IndexError*>(&e))
    return RSCAPRET_ERR_INVALID_ARGUMENT;
  if (dynamic_cast<const IOError*>(&e) || dynamic_cast<const std::filesystem::filesystem_error*>(&e))
    return RSCAPRET_ERR_IO;
  if (dynamic_cast<const FormatError*>(&e) || dynamic_cast<const DTypeError*>(&e)) return RSCAPRET_ERR_FORMAT;
  if (dynamic_cast<const DeviceError*>(&e)) return RSCAPRET_ERR_DEVICE;
  if (dynamic_cast<const std::bad_alloc*>(&e)) return RSCAPRET_ERR_OUT_OF_MEMORY;
  return RSCAPRET_ERR_INTERNAL;
}

// An error re-raised with more context (which image) that keeps the status of the original.
struct StatusError : std::runtime_error {
  StatusError(rscapret_status s, const std::string& what) : std::runtime_error(what), status(s) {}
  rscapret_status status;
};

// Runs body, mapping what it throws to a status.
template <typename F>
rscapret_status guarded(const char* fn, F&& body) noexcept {
  try {
    body();
    return RSCAPRET_OK;
  } catch (const StatusError& e) {
    return fail(e.status, fn, e.what());
  } catch (const std::bad_alloc&) {
    return fail(RSCAPRET_ERR_OUT_OF_MEMORY, fn, "out of memory");
  } catch (const std::exception& e) {
    return fail(status_of(e), fn, e.what());
  } catch (...) {
    return fail(RSCAPRET_ERR_INTERNAL, fn, "unknown exception");
  }
}

// Throws ValueError("[fn] what must not be NULL") for a null pointer argument.
void require(const void* p, const char* fn, const char* what) {
  RS_CHECK(p != nullptr, ValueError, fn, what, " must not be NULL");
}

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

api::ImageInput to_input(const rscapret_image& im, size_t i) {
  api::ImageInput in;
  switch (im.kind) {
    case RSCAPRET_IMAGE_FILE:
      RS_CHECK(im.path != nullptr, ValueError, "image", "images[", i, "]: a file image needs a path");
      in.kind = api::ImageInput::Kind::file;
      in.path = im.path;
      return in;
    case RSCAPRET_IMAGE_ENCODED:
      in.kind = api::ImageInput::Kind::encoded;
      break;
    case RSCAPRET_IMAGE_RGB8:
      in.kind = api::ImageInput::Kind::rgb8;
      in.width = im.width;
      in.height = im.height;
      in.row_stride = im.row_stride;
      break;
    default:
      throw ValueError(cat("[image] images[", i, "]: unknown kind ", int(im.kind)));
  }
  in.data = static_cast<const uint8_t*>(im.data);
  in.size = im.size;
  return in;
}

// Images [begin, end) preprocessed for the model; an image that cannot be read fails the call, named
// by its position (the error's own message names the file or kind).
std::vector<Tensor> load_inputs(const rscapret_model& m, const rscapret_image* images, size_t begin, size_t end) {
  std::vector<Tensor> px;
  px.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    try {
      px.push_back(api::load_image_input(to_input(images[i], i), m.image_size()));
    } catch (const Error& e) {
      throw StatusError(status_of(e), cat("images[", i, "]: ", e.what()));
    }
  }
  return px;
}

void check_capacity(size_t n, size_t dim, size_t capacity, const char* fn) {
  RS_CHECK(dim == 0 || n <= capacity / dim, ValueError, fn, "out holds ", capacity, " floats; ", n,
           " embeddings of ", dim, " need ", n * dim);
}

void write_hits(const models::ImageIndex& index, const std::vector<models::RetrievalHit>& found, rscapret_hit* hits,
                size_t* n_hits) {
  for (size_t i = 0; i < found.size(); ++i) {
    hits[i].index = size_t(found[i].index);
    hits[i].score = found[i].score;
    hits[i].path = index.paths[size_t(found[i].index)].c_str();
  }
  *n_hits = found.size();
}

}  // namespace

extern "C" {

int rscapret_api_version(void) noexcept { return RSCAPRET_API_VERSION; }
const char* rscapret_version(void) noexcept { return RSCAPRET_VERSION_STRING; }
const char* rscapret_last_error(void) noexcept {
  return last_error_lost ? "out of memory while recording the error" : last_error.c_str();
}

const char* rscapret_status_name(rscapret_status status) noexcept {
  switch (status) {
    case RSCAPRET_OK: return "ok";
    case RSCAPRET_ERR_INVALID_ARGUMENT: return "invalid argument";
    case RSCAPRET_ERR_IO: return "i/o error";
    case RSCAPRET_ERR_FORMAT: return "format error";
    case RSCAPRET_ERR_DEVICE: return "device error";
    case RSCAPRET_ERR_OUT_OF_MEMORY: return "out of memory";
    case RSCAPRET_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

void rscapret_string_free(char* s) noexcept { std::free(s); }

rscapret_status rscapret_set_threads(int n) noexcept {
  return guarded("rscapret_set_threads", [&] {
    std::lock_guard<std::mutex> lock(compute_mutex());
    thread_pool::set_num_threads(n);
  });
}

rscapret_status rscapret_set_matmul_precision(const char* precision) noexcept {
  return guarded("rscapret_set_matmul_precision", [&] {
    require(precision, "rscapret_set_matmul_precision", "precision");
    const kernels::MatmulPrecision p = kernels::matmul_precision_from_name(precision);
    std::lock_guard<std::mutex> lock(compute_mutex());
    kernels::set_matmul_precision(p);
  });
}

void rscapret_model_options_init(rscapret_model_options* options) noexcept {
  if (!options) return;
  options->device = "cpu";
  options->quantize = "none";
}

rscapret_status rscapret_model_load(const char* dir, const rscapret_model_options* options, rscapret_model** model) noexcept {
  const char* fn = "rscapret_model_load";
  return guarded(fn, [&] {
    require(model, fn, "model");
    *model = nullptr;
    require(dir, fn, "dir");
    rscapret_model_options opt;
    rscapret_model_options_init(&opt);
    if (options) opt = *options;
    const Device device = api::parse_device(opt.device ? opt.device : "cpu");
    const std::string quantize = opt.quantize ? opt.quantize : "none";
    std::lock_guard<std::mutex> lock(compute_mutex());
    auto m = std::make_unique<rscapret_model>();
    m->bundle = std::make_shared<const models::RsCapRetBundle>(api::load_model(dir, device, quantize));
    m->dir = dir;
    *model = m.release();
  });
}

void rscapret_model_free(rscapret_model* model) noexcept {
  if (!model) return;
  std::lock_guard<std::mutex> lock(compute_mutex());
  delete model;
}

size_t rscapret_model_embedding_dim(const rscapret_model* model) noexcept {
  return model ? size_t(model->bundle->model->options().retrieval_dim) : 0;
}

int rscapret_model_image_size(const rscapret_model* model) noexcept { return model ? model->image_size() : 0; }

void rscapret_caption_options_init(rscapret_caption_options* options) noexcept {
  if (!options) return;
  options->beam = 1;
  options->max_new_tokens = 32;
  options->batch = 8;
}

rscapret_status rscapret_caption(rscapret_model* model, const rscapret_image* images, size_t n,
                                 const rscapret_caption_options* options, char** captions) noexcept {
  const char* fn = "rscapret_caption";
  if (captions)
    for (size_t i = 0; i < n; ++i) captions[i] = nullptr;
  return guarded(fn, [&] {
    require(model, fn, "model");
    if (n == 0) return;
    require(images, fn, "images");
    require(captions, fn, "captions");
    rscapret_caption_options opt;
    rscapret_caption_options_init(&opt);
    if (options) opt = *options;
    RS_CHECK(opt.batch >= 1, ValueError, fn, "batch must be at least 1, got ", opt.batch);
    std::lock_guard<std::mutex> lock(compute_mutex());
    const models::GenerateOptions g = api::caption_options(*model->bundle, opt.beam, opt.max_new_tokens);
    std::vector<std::string> text;  // all of them before any is handed out: the call fails as a whole
    for (size_t i0 = 0; i0 < n; i0 += size_t(opt.batch)) {
      const size_t i1 = std::min(n, i0 + size_t(opt.batch));
      for (std::string& c : api::caption_images(*model->bundle, load_inputs(*model, images, i0, i1), g, opt.batch))
        text.push_back(std::move(c));
    }
    try {
      for (size_t i = 0; i < n; ++i) captions[i] = copy_string(text[i]);
    } catch (...) {
      for (size_t i = 0; i < n; ++i) {
        std::free(captions[i]);
        captions[i] = nullptr;
      }
      throw;
    }
  });
}

rscapret_status rscapret_embed_images(rscapret_model* model, const rscapret_image* images, size_t n, float* out,
                                      size_t capacity) noexcept {
  const char* fn = "rscapret_embed_images";
  return guarded(fn, [&] {
    require(model, fn, "model");
    if (n == 0) return;
    require(images, fn, "images");
    require(out, fn, "out");
    check_capacity(n, rscapret_model_embedding_dim(model), capacity, fn);
    std::lock_guard<std::mutex> lock(compute_mutex());
    constexpr size_t kBatch = 16;  // images per CLIP forward, as `rscapret index`
    std::vector<float> e;          // [n, Q], copied out only when every image was read
    for (size_t i0 = 0; i0 < n; i0 += kBatch) {
      const std::vector<float> part =
          api::embed_images(*model->bundle, load_inputs(*model, images, i0, std::min(n, i0 + kBatch)), kBatch);
      e.insert(e.end(), part.begin(), part.end());
    }
    std::memcpy(out, e.data(), e.size() * sizeof(float));
  });
}

rscapret_status rscapret_embed_texts(rscapret_model* model, const char* const* texts, size_t n, float* out,
                                     size_t capacity) noexcept {
  const char* fn = "rscapret_embed_texts";
  return guarded(fn, [&] {
    require(model, fn, "model");
    if (n == 0) return;
    require(texts, fn, "texts");
    require(out, fn, "out");
    check_capacity(n, rscapret_model_embedding_dim(model), capacity, fn);
    std::vector<std::string> v;
    for (size_t i = 0; i < n; ++i) {
      RS_CHECK(texts[i] != nullptr, ValueError, fn, "texts[", i, "] must not be NULL");
      v.emplace_back(texts[i]);
    }
    std::lock_guard<std::mutex> lock(compute_mutex());
    const std::vector<float> e = models::embed_texts(*model->bundle, v);
    std::memcpy(out, e.data(), e.size() * sizeof(float));
  });
}

rscapret_status rscapret_index_build(rscapret_model* model, const char* const* paths, size_t n, const char* out_path,
                                     size_t* skipped) noexcept {
  const char* fn = "rscapret_index_build";
  return guarded(fn, [&] {
    require(model, fn, "model");
    require(out_path, fn, "out_path");
    RS_CHECK(n > 0, ValueError, fn, "no images to index");
    require(paths, fn, "paths");
    std::vector<std::filesystem::path> files;
    for (size_t i = 0; i < n; ++i) {
      RS_CHECK(paths[i] != nullptr, ValueError, fn, "paths[", i, "] must not be NULL");
      files.emplace_back(paths[i]);
    }
    std::lock_guard<std::mutex> lock(compute_mutex());
    const models::RsCapRetBundle& b = *model->bundle;
    const api::IndexedImages idx = api::embed_image_files(b, files, 16);
    models::save_image_index(out_path, idx.embeddings, b.model->options().retrieval_dim, idx.paths,
                             models::module_xxh3(*b.model), std::filesystem::absolute(model->dir).string(),
                             idx.skipped);
    if (skipped) *skipped = size_t(idx.skipped);
  });
}

rscapret_status rscapret_index_load(const char* path, rscapret_index** index) noexcept {
  const char* fn = "rscapret_index_load";
  return guarded(fn, [&] {
    require(index, fn, "index");
    *index = nullptr;
    require(path, fn, "path");
    auto idx = std::make_unique<rscapret_index>();
    std::lock_guard<std::mutex> lock(compute_mutex());  // loading may convert on the thread pool
    idx->index = std::make_shared<const models::ImageIndex>(models::ImageIndex::load(path));
    *index = idx.release();
  });
}

void rscapret_index_free(rscapret_index* index) noexcept { delete index; }

size_t rscapret_index_size(const rscapret_index* index) noexcept { return index ? size_t(index->index->size()) : 0; }

const char* rscapret_index_path(const rscapret_index* index, size_t i) noexcept {
  if (!index || i >= index->index->paths.size()) return nullptr;
  return index->index->paths[i].c_str();
}

rscapret_status rscapret_index_search_text(rscapret_model* model, const rscapret_index* index, const char* query,
                                           size_t k, rscapret_hit* hits, size_t* n_hits) noexcept {
  const char* fn = "rscapret_index_search_text";
  return guarded(fn, [&] {
    require(model, fn, "model");
    require(index, fn, "index");
    require(query, fn, "query");
    require(n_hits, fn, "n_hits");
    *n_hits = 0;
    std::lock_guard<std::mutex> lock(compute_mutex());
    index->index->check_model(*model->bundle->model, model->dir);  // even for k == 0
    if (k == 0) return;
    require(hits, fn, "hits");
    // Not cut to the training max_len, as `rscapret retrieve`: a long query keeps all its words.
    const std::vector<float> q = models::embed_texts(*model->bundle, {std::string(query)}, 1, /*max_len=*/0);
    write_hits(*index->index, index->index->search(q, int64_t(std::min(k, size_t(index->index->size())))), hits,
               n_hits);
  });
}

rscapret_status rscapret_index_search_embedding(const rscapret_index* index, const float* query, size_t dim, size_t k,
                                                rscapret_hit* hits, size_t* n_hits) noexcept {
  const char* fn = "rscapret_index_search_embedding";
  return guarded(fn, [&] {
    require(index, fn, "index");
    require(query, fn, "query");
    require(n_hits, fn, "n_hits");
    *n_hits = 0;
    RS_CHECK(dim == size_t(index->index->dim), ValueError, fn, "the query has ", dim,
             " floats, the index's embeddings ", index->index->dim);
    for (size_t i = 0; i < dim; ++i)
      RS_CHECK(std::isfinite(query[i]), ValueError, fn, "query[", i, "] is not finite (", query[i], ")");
    if (k == 0) return;
    require(hits, fn, "hits");
    const std::vector<float> q(query, query + dim);
    write_hits(*index->index, index->index->search(q, int64_t(std::min(k, size_t(index->index->size())))), hits,
               n_hits);
  });
}

void rscapret_chat_options_init(rscapret_chat_options* options) noexcept {
  if (!options) return;
  const models::ChatOptions d;
  options->max_new_tokens = int(d.max_new_tokens);
  options->temperature = d.temperature;
  options->top_p = d.top_p;
  options->seed = d.seed;
  options->top_k_images = int(d.top_k_images);
  options->ret_scale = d.ret_scale_factor;
}

rscapret_status rscapret_chat_new(rscapret_model* model, const rscapret_chat_options* options,
                                  rscapret_chat** chat) noexcept {
  const char* fn = "rscapret_chat_new";
  return guarded(fn, [&] {
    require(chat, fn, "chat");
    *chat = nullptr;
    require(model, fn, "model");
    rscapret_chat_options opt;
    rscapret_chat_options_init(&opt);
    if (options) opt = *options;
    RS_CHECK(opt.top_k_images >= 0, ValueError, fn, "top_k_images must be >= 0, got ", opt.top_k_images);
    RS_CHECK(std::isfinite(opt.temperature) && std::isfinite(opt.ret_scale) && opt.ret_scale > 0, ValueError, fn,
             "temperature must be finite and ret_scale finite and positive, got ", opt.temperature, " and ",
             opt.ret_scale);
    models::ChatOptions c;
    c.max_new_tokens = opt.max_new_tokens;  // the chat checks it and top_p
    c.temperature = opt.temperature;
    c.top_p = opt.top_p;
    c.seed = opt.seed;
    c.top_k_images = opt.top_k_images;
    c.ret_scale_factor = opt.ret_scale;
    std::lock_guard<std::mutex> lock(compute_mutex());
    *chat = new rscapret_chat(*model, c);
  });
}

void rscapret_chat_free(rscapret_chat* chat) noexcept {
  if (!chat) return;
  std::lock_guard<std::mutex> lock(compute_mutex());  // may release the last reference to the model
  delete chat;
}

rscapret_status rscapret_chat_set_index(rscapret_chat* chat, const rscapret_index* index) noexcept {
  const char* fn = "rscapret_chat_set_index";
  return guarded(fn, [&] {
    require(chat, fn, "chat");
    std::lock_guard<std::mutex> lock(compute_mutex());
    chat->chat.set_index(index ? index->index : nullptr, chat->model.dir);
  });
}

rscapret_status rscapret_chat_add_image(rscapret_chat* chat, const rscapret_image* image) noexcept {
  const char* fn = "rscapret_chat_add_image";
  return guarded(fn, [&] {
    require(chat, fn, "chat");
    require(image, fn, "image");
    std::lock_guard<std::mutex> lock(compute_mutex());
    chat->chat.add_image(api::load_image_input(to_input(*image, 0), chat->model.image_size()));  // errors name the file
  });
}

rscapret_status rscapret_chat_reset(rscapret_chat* chat) noexcept {
  const char* fn = "rscapret_chat_reset";
  return guarded(fn, [&] {
    require(chat, fn, "chat");
    std::lock_guard<std::mutex> lock(compute_mutex());
    chat->chat.reset();
  });
}

void rscapret_chat_reply_free(rscapret_chat_reply* reply) noexcept {
  if (!reply) return;
  std::free(reply->text);
  for (size_t i = 0; reply->hits && i < reply->n_hits; ++i) std::free(const_cast<char*>(reply->hits[i].path));
  std::free(reply->hits);
  *reply = rscapret_chat_reply{};
}

rscapret_status rscapret_chat_ask(rscapret_chat* chat, const char* question, int force_retrieval,
                                  rscapret_chat_reply* reply) noexcept {
  const char* fn = "rscapret_chat_ask";
  if (reply) *reply = rscapret_chat_reply{};
  return guarded(fn, [&] {
    require(chat, fn, "chat");
    require(question, fn, "question");
    require(reply, fn, "reply");
    std::lock_guard<std::mutex> lock(compute_mutex());
    // All or nothing: when copying the reply out fails, the turn is taken back.
    const size_t most_hits = size_t(std::max<int64_t>(0, chat->chat.options().top_k_images));
    models::RsCapRetChat::Snapshot before = chat->chat.snapshot();
    rscapret_chat_reply out{};
    try {
      out.hits = static_cast<rscapret_hit*>(std::calloc(std::max<size_t>(most_hits, 1), sizeof(rscapret_hit)));
      if (!out.hits) throw std::bad_alloc();
      const models::ChatReply r = chat->chat.ask(question, force_retrieval != 0);
      out.text = copy_string(r.text);
      for (const models::ChatHit& h : r.retrieved) {
        rscapret_hit& hit = out.hits[out.n_hits];
        hit.index = size_t(h.index);
        hit.score = h.score;
        hit.path = copy_string(h.path);
        ++out.n_hits;
      }
      out.retrieval_requested = r.retrieved_requested ? 1 : 0;
      out.stop = r.stop == "newline" ? "newline" : r.stop == "Q:" ? "Q:" : r.stop == "eos" ? "eos" : "max_new_tokens";
      out.positions = size_t(r.positions);
      out.over_context = r.over_context ? 1 : 0;
    } catch (...) {
      rscapret_chat_reply_free(&out);
      chat->chat.restore(std::move(before));
      throw;
    }
    *reply = out;
  });
}

}  // extern "C"
