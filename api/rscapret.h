/* rscapret: the C library. RS-CapRet remote-sensing image captioning and text-to-image retrieval
 * from any language with a C FFI, without Python: load a model folder (written by `rscapret train
 * bridge`, or the embedded default's `assets/model`), caption images, embed images and texts, build
 * and search image indexes (the same files as `rscapret index`), and hold FROMAGe's interleaved
 * image/text dialogue with [RET] retrieval (as `rscapret chat`).
 *
 * Conventions
 * - Every function that can fail returns an rscapret_status. On failure its outputs are untouched,
 *   except that a handle it would return is set to NULL, a count to 0, and an array of strings to
 *   all NULL; rscapret_last_error() says what went wrong on this thread: which argument, file or
 *   image, and what was expected. Nothing is thrown or aborted across this boundary for bad input.
 * - n == 0 images or texts: nothing to do, RSCAPRET_OK (building an index of nothing is refused).
 * - Strings returned to the caller are UTF-8, NUL-terminated, allocated by the library: free each
 *   with rscapret_string_free. Handles are freed with their *_free function (NULL is accepted).
 * - Calls may come from any thread: computations are serialized by one process-wide lock (the
 *   kernels already use every core through the library's own thread pool).
 * - Options structs are filled with defaults by their *_init function first. A version that changes
 *   a struct or a signature raises the library's SONAME (librscapret.so.N), so a program never meets
 *   a struct of another size. RSCAPRET_API_VERSION rises with every change, additions included: a
 *   program built against version N runs with a library of the same SONAME reporting N or more.
 *   Version 2 added the chat entries.
 */
#ifndef RSCAPRET_RSCAPRET_H
#define RSCAPRET_RSCAPRET_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define RSCAPRET_API
#else
#define RSCAPRET_API __attribute__((visibility("default")))
#endif
#ifdef __cplusplus
#define RSCAPRET_NOEXCEPT noexcept
#else
#define RSCAPRET_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define RSCAPRET_API_VERSION 2

typedef enum rscapret_status {
  RSCAPRET_OK = 0,
  RSCAPRET_ERR_INVALID_ARGUMENT = 1, /* a NULL handle, a bad option value, a buffer too small, ... */
  RSCAPRET_ERR_IO = 2,               /* a file or folder that cannot be read or written */
  RSCAPRET_ERR_FORMAT = 3,           /* a corrupt or malformed file: model, image, index */
  RSCAPRET_ERR_DEVICE = 4,           /* a device this machine or build does not have */
  RSCAPRET_ERR_OUT_OF_MEMORY = 5,
  RSCAPRET_ERR_INTERNAL = 6          /* anything else; the message says what */
} rscapret_status;

/* RSCAPRET_API_VERSION of the library actually loaded (compare with the header's). */
RSCAPRET_API int rscapret_api_version(void) RSCAPRET_NOEXCEPT;
/* The library's version, e.g. "0.1.0". */
RSCAPRET_API const char* rscapret_version(void) RSCAPRET_NOEXCEPT;
/* The message of the last failing call on this thread ("" if none); valid until the next failing call. */
RSCAPRET_API const char* rscapret_last_error(void) RSCAPRET_NOEXCEPT;
/* A short English name of a status, e.g. "invalid argument". */
RSCAPRET_API const char* rscapret_status_name(rscapret_status status) RSCAPRET_NOEXCEPT;
RSCAPRET_API void rscapret_string_free(char* s) RSCAPRET_NOEXCEPT;

/* ---- process-wide settings ---- */
/* Threads of the CPU kernels (default: every core, or $RSCAPRET_THREADS); n <= 0 restores the default. */
RSCAPRET_API rscapret_status rscapret_set_threads(int n) RSCAPRET_NOEXCEPT;
/* CPU matrix products: "f32" (default, exact f32), "bf16" (AVX-512 BF16 products where the CPU has
 * them), "int8" (decoding with q8_0 weights quantizes activations too; AVX-512 VNNI). */
RSCAPRET_API rscapret_status rscapret_set_matmul_precision(const char* precision) RSCAPRET_NOEXCEPT;

/* ---- models ---- */
typedef struct rscapret_model rscapret_model;

typedef struct rscapret_model_options {
  const char* device;   /* "cpu" (default, also for NULL), "cuda" or "cuda:N" */
  const char* quantize; /* "none" (default, also for NULL) or "q8_0": the frozen decoder's linear
                           weights as 8-bit codes (CPU only; about half the memory of bf16) */
} rscapret_model_options;

RSCAPRET_API void rscapret_model_options_init(rscapret_model_options* options) RSCAPRET_NOEXCEPT;
/* Loads a model folder (bridge.json + bridge.safetensors and the backbones it names; weights are
 * checked against their content hash). options may be NULL (defaults). */
RSCAPRET_API rscapret_status rscapret_model_load(const char* dir, const rscapret_model_options* options,
                                                 rscapret_model** model) RSCAPRET_NOEXCEPT;
RSCAPRET_API void rscapret_model_free(rscapret_model* model) RSCAPRET_NOEXCEPT;
/* Width of the retrieval embeddings (Q) and the CLIP input side in pixels (S). */
RSCAPRET_API size_t rscapret_model_embedding_dim(const rscapret_model* model) RSCAPRET_NOEXCEPT;
RSCAPRET_API int rscapret_model_image_size(const rscapret_model* model) RSCAPRET_NOEXCEPT;

/* ---- images ----
 * An image is a file path, the bytes of an encoded file (PNG, JPEG, BMP, TIFF), or 8-bit RGB
 * pixels (3 bytes a pixel, row-major, rows row_stride bytes apart; 0 means width * 3). Images of any
 * size go through CLIP's own preprocessing (shorter side to S, bicubic as Pillow, centre crop). */
typedef enum rscapret_image_kind {
  RSCAPRET_IMAGE_FILE = 0,
  RSCAPRET_IMAGE_ENCODED = 1,
  RSCAPRET_IMAGE_RGB8 = 2
} rscapret_image_kind;

typedef struct rscapret_image {
  rscapret_image_kind kind;
  const char* path;  /* FILE */
  const void* data;  /* ENCODED: the file's bytes; RGB8: the pixels (not copied beyond the call) */
  size_t size;       /* bytes at data */
  int width, height; /* RGB8 */
  size_t row_stride; /* RGB8 */
} rscapret_image;

static inline rscapret_image rscapret_image_file(const char* path) {
  rscapret_image im = {RSCAPRET_IMAGE_FILE, path, NULL, 0, 0, 0, 0};
  return im;
}
static inline rscapret_image rscapret_image_encoded(const void* data, size_t size) {
  rscapret_image im = {RSCAPRET_IMAGE_ENCODED, NULL, data, size, 0, 0, 0};
  return im;
}
static inline rscapret_image rscapret_image_rgb8(const void* pixels, size_t size, int width, int height,
                                                 size_t row_stride) {
  rscapret_image im = {RSCAPRET_IMAGE_RGB8, NULL, pixels, size, width, height, row_stride};
  return im;
}

/* ---- captioning ---- */
typedef struct rscapret_caption_options {
  int beam;           /* beam width; 1 (default): greedy */
  int max_new_tokens; /* default 32 */
  int batch;          /* images decoded together (default 8: on the CPU, with a 7B decoder in bf16
                         or q8_0, a decode step of 8 rows costs about twice one row's) */
} rscapret_caption_options;

RSCAPRET_API void rscapret_caption_options_init(rscapret_caption_options* options) RSCAPRET_NOEXCEPT;
/* One caption per image into captions[0..n) (free each with rscapret_string_free). A caption is the
 * text up to its first '.', as in the model's evaluation. Images are read batch by batch, so memory
 * does not grow with n. Fails as a whole when any image cannot be read (the message names it); then
 * every captions[i] is NULL. options may be NULL.
 * Batched captions equal one-at-a-time captions up to f32 rounding (the products sum in another
 * order; a near-tie can flip a word). */
RSCAPRET_API rscapret_status rscapret_caption(rscapret_model* model, const rscapret_image* images, size_t n,
                                              const rscapret_caption_options* options, char** captions) RSCAPRET_NOEXCEPT;

/* ---- embeddings (L2-normalised: a dot product is the cosine similarity) ---- */
/* Image embeddings into out[n * dim], dim = rscapret_model_embedding_dim; capacity counts floats. */
RSCAPRET_API rscapret_status rscapret_embed_images(rscapret_model* model, const rscapret_image* images, size_t n,
                                                   float* out, size_t capacity) RSCAPRET_NOEXCEPT;
/* Text embeddings ("BOS text [RET]" through the decoder) into out[n * dim]; a text longer than the
 * model's training max_len is cut as in training (the last kept token becomes [RET]). */
RSCAPRET_API rscapret_status rscapret_embed_texts(rscapret_model* model, const char* const* texts, size_t n,
                                                  float* out, size_t capacity) RSCAPRET_NOEXCEPT;

/* ---- image indexes (the file format of `rscapret index`) ---- */
typedef struct rscapret_index rscapret_index;

typedef struct rscapret_hit {
  size_t index;     /* row in the index */
  double score;     /* cosine similarity */
  const char* path; /* the image's path as indexed; owned by the index handle */
} rscapret_hit;

/* Embeds image files and writes an index to out_path atomically (no half-written file). Unreadable
 * images are skipped and counted in *skipped (may be NULL); fails when none can be read. */
RSCAPRET_API rscapret_status rscapret_index_build(rscapret_model* model, const char* const* paths, size_t n,
                                                  const char* out_path, size_t* skipped) RSCAPRET_NOEXCEPT;
RSCAPRET_API rscapret_status rscapret_index_load(const char* path, rscapret_index** index) RSCAPRET_NOEXCEPT;
RSCAPRET_API void rscapret_index_free(rscapret_index* index) RSCAPRET_NOEXCEPT;
RSCAPRET_API size_t rscapret_index_size(const rscapret_index* index) RSCAPRET_NOEXCEPT;
/* The path of row i, or NULL when i is out of range. */
RSCAPRET_API const char* rscapret_index_path(const rscapret_index* index, size_t i) RSCAPRET_NOEXCEPT;
/* The k best images for a text query, best first, into hits[0..*n_hits) (*n_hits = min(k, size));
 * the query is never cut (as `rscapret retrieve`). Fails unless the index was built by this model
 * (same bridge weights). Ties keep the lower row first. */
RSCAPRET_API rscapret_status rscapret_index_search_text(rscapret_model* model, const rscapret_index* index,
                                                        const char* query, size_t k, rscapret_hit* hits,
                                                        size_t* n_hits) RSCAPRET_NOEXCEPT;
/* The same for an embedding (dim floats, normalised, e.g. from rscapret_embed_images). */
RSCAPRET_API rscapret_status rscapret_index_search_embedding(const rscapret_index* index, const float* query,
                                                             size_t dim, size_t k, rscapret_hit* hits,
                                                             size_t* n_hits) RSCAPRET_NOEXCEPT;

/* ---- chat (API version 2) ----
 * FROMAGe's interleaved dialogue, as `rscapret chat`: images and questions accumulate in one
 * conversation, the frozen decoder answers each question, and when it emits [RET] (or the caller
 * forces it) its hidden state at [RET] ranks the images of an index. A chat keeps its own references
 * to its model and index: their handles may be freed while the chat lives. Answers are greedy unless
 * temperature > 0 (then sampled with top_p from one seeded stream per conversation), so the same
 * calls give the same replies. */
typedef struct rscapret_chat rscapret_chat;

typedef struct rscapret_chat_options {
  int max_new_tokens; /* answer length limit in tokens; default 32 */
  double temperature; /* <= 0 (default): greedy */
  double top_p;       /* nucleus sampling mass in (0, 1]; default 1 */
  uint64_t seed;      /* the conversation's sampling stream; default 0 */
  int top_k_images;   /* images returned per retrieval; default 3 */
  double ret_scale;   /* multiplies the [RET] logit (FROMAGe's ret_scale_factor); default 1 */
} rscapret_chat_options;

RSCAPRET_API void rscapret_chat_options_init(rscapret_chat_options* options) RSCAPRET_NOEXCEPT;
/* A new, empty conversation with model; options may be NULL. */
RSCAPRET_API rscapret_status rscapret_chat_new(rscapret_model* model, const rscapret_chat_options* options,
                                               rscapret_chat** chat) RSCAPRET_NOEXCEPT;
RSCAPRET_API void rscapret_chat_free(rscapret_chat* chat) RSCAPRET_NOEXCEPT;
/* The images [RET] retrieves from; NULL: none (a requested retrieval then returns no hits). Fails
 * unless the index was built by the chat's model. */
RSCAPRET_API rscapret_status rscapret_chat_set_index(rscapret_chat* chat, const rscapret_index* index) RSCAPRET_NOEXCEPT;
/* Appends an image to the conversation (its visual prefix goes in now). On failure (an unreadable
 * image) the conversation is unchanged. */
RSCAPRET_API rscapret_status rscapret_chat_add_image(rscapret_chat* chat, const rscapret_image* image) RSCAPRET_NOEXCEPT;
/* Forgets the conversation (images and text); options and index stay. */
RSCAPRET_API rscapret_status rscapret_chat_reset(rscapret_chat* chat) RSCAPRET_NOEXCEPT;

typedef struct rscapret_chat_reply {
  char* text;              /* the answer, without [RET] or the stop text */
  int retrieval_requested; /* 1 when [RET] was emitted or forced */
  rscapret_hit* hits;      /* the first [RET]'s best images, best first (paths owned by the reply) */
  size_t n_hits;
  const char* stop;        /* why the answer ended: "newline", "Q:", "eos" or "max_new_tokens" (static) */
  size_t positions;        /* the model input's positions this turn, prompt and answer */
  int over_context;        /* 1 when positions passed the decoder's trained context: start anew */
} rscapret_chat_reply;

/* Asks question ("Q: question\nA:" is appended), writes the answer into *reply and appends it to
 * the conversation. force_retrieval != 0: the answer starts with [RET] (the user asked for images).
 * On failure *reply is all zero and the conversation is unchanged. Free with
 * rscapret_chat_reply_free. */
RSCAPRET_API rscapret_status rscapret_chat_ask(rscapret_chat* chat, const char* question, int force_retrieval,
                                               rscapret_chat_reply* reply) RSCAPRET_NOEXCEPT;
/* Frees what a reply owns and zeroes it; NULL and zeroed replies are accepted. */
RSCAPRET_API void rscapret_chat_reply_free(rscapret_chat_reply* reply) RSCAPRET_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* RSCAPRET_RSCAPRET_H */
