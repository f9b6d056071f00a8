/* Using librscapret from C: caption images, index them and search with a text query, or chat.
 *
 *   rscapret_example caption MODEL_DIR IMAGE...
 *   rscapret_example search MODEL_DIR INDEX_FILE "QUERY" IMAGE...
 *   rscapret_example chat MODEL_DIR INDEX_FILE IMAGE    (questions from stdin, one per line;
 *                                                        "/retrieve TEXT" asks for images)
 *
 * MODEL_DIR is a model folder (the embedded default: <prefix>/share/rscapret/assets/model). Build it
 * against an installed rscapret with CMake (CMakeLists.txt here: find_package(rscapret)) or with
 * pkg-config: cc rscapret_example.c $(pkg-config --cflags --libs rscapret). */
#include <rscapret/rscapret.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(rscapret_status s, const char* what) {
  if (s == RSCAPRET_OK) return 0;
  fprintf(stderr, "%s failed (%s): %s\n", what, rscapret_status_name(s), rscapret_last_error());
  return 1;
}

static int caption(rscapret_model* model, char** paths, size_t n) {
  rscapret_image* images = calloc(n, sizeof *images);
  char** captions = calloc(n, sizeof *captions);
  int rc = images == NULL || captions == NULL;
  for (size_t i = 0; !rc && i < n; ++i) images[i] = rscapret_image_file(paths[i]);
  if (!rc) rc = check(rscapret_caption(model, images, n, NULL, captions), "caption");
  for (size_t i = 0; !rc && i < n; ++i) {
    printf("%s\t%s\n", paths[i], captions[i]);
    rscapret_string_free(captions[i]);
  }
  free(images);
  free(captions);
  return rc;
}

static int search(rscapret_model* model, const char* index_file, const char* query, char** paths, size_t n) {
  size_t skipped = 0, found = 0;
  rscapret_index* index = NULL;
  rscapret_hit hits[5];
  if (check(rscapret_index_build(model, (const char* const*)paths, n, index_file, &skipped), "index")) return 1;
  if (check(rscapret_index_load(index_file, &index), "load index")) return 1;
  int rc = check(rscapret_index_search_text(model, index, query, 5, hits, &found), "search");
  for (size_t i = 0; !rc && i < found; ++i) printf("%zu\t%.6f\t%s\n", i + 1, hits[i].score, hits[i].path);
  rscapret_index_free(index);
  return rc;
}

/* A conversation about one image, printed as `rscapret chat` prints it. */
static int chat(rscapret_model* model, const char* index_file, const char* image_path) {
  rscapret_index* index = NULL;
  rscapret_chat* c = NULL;
  const rscapret_image image = rscapret_image_file(image_path);
  char line[4096];
  if (check(rscapret_index_load(index_file, &index), "load index")) return 1;
  int rc = check(rscapret_chat_new(model, NULL, &c), "new chat");
  if (!rc) rc = check(rscapret_chat_set_index(c, index), "set index");
  rscapret_index_free(index); /* the chat keeps its own reference */
  if (!rc) rc = check(rscapret_chat_add_image(c, &image), "add image");
  while (!rc && fgets(line, sizeof line, stdin)) {
    rscapret_chat_reply reply;
    const int force = strncmp(line, "/retrieve ", 10) == 0;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') continue;
    rc = check(rscapret_chat_ask(c, force ? line + 10 : line, force, &reply), "ask");
    if (rc) break;
    printf("A: %s\n", reply.text);
    for (size_t i = 0; i < reply.n_hits; ++i)
      printf("[RET] %zu %.6f %s\n", i + 1, reply.hits[i].score, reply.hits[i].path);
    rscapret_chat_reply_free(&reply);
  }
  rscapret_chat_free(c);
  return rc;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (argc < 4 || (strcmp(mode, "caption") != 0 && strcmp(mode, "search") != 0 && strcmp(mode, "chat") != 0) ||
      (strcmp(mode, "search") == 0 && argc < 6) || (strcmp(mode, "chat") == 0 && argc != 5)) {
    fprintf(stderr,
            "usage: %s caption MODEL_DIR IMAGE...\n       %s search MODEL_DIR INDEX_FILE QUERY IMAGE...\n"
            "       %s chat MODEL_DIR INDEX_FILE IMAGE  (questions on stdin)\n",
            argv[0], argv[0], argv[0]);
    return 2;
  }
  /* Built for version N: any library of this SONAME reporting N or more has every entry used here. */
  if (rscapret_api_version() < RSCAPRET_API_VERSION) {
    fprintf(stderr, "librscapret has API version %d, this program was built for %d\n", rscapret_api_version(),
            RSCAPRET_API_VERSION);
    return 1;
  }
  rscapret_model* model = NULL;
  if (check(rscapret_model_load(argv[2], NULL, &model), "load model")) return 1;
  int rc;
  if (strcmp(mode, "caption") == 0) rc = caption(model, argv + 3, (size_t)(argc - 3));
  else if (strcmp(mode, "search") == 0) rc = search(model, argv[3], argv[4], argv + 5, (size_t)(argc - 5));
  else rc = chat(model, argv[3], argv[4]);
  rscapret_model_free(model);
  return rc;
}
