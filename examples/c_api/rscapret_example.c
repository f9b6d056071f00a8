/* Using librscapret from C: caption images, or index them and search with a text query.
 *
 *   rscapret_example caption MODEL_DIR IMAGE...
 *   rscapret_example search MODEL_DIR INDEX_FILE "QUERY" IMAGE...
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

int main(int argc, char** argv) {
  if (argc < 4 || (strcmp(argv[1], "caption") != 0 && strcmp(argv[1], "search") != 0) ||
      (strcmp(argv[1], "search") == 0 && argc < 6)) {
    fprintf(stderr, "usage: %s caption MODEL_DIR IMAGE...\n       %s search MODEL_DIR INDEX_FILE QUERY IMAGE...\n",
            argv[0], argv[0]);
    return 2;
  }
  if (rscapret_api_version() != RSCAPRET_API_VERSION) {
    fprintf(stderr, "librscapret has API version %d, this program was built for %d\n", rscapret_api_version(),
            RSCAPRET_API_VERSION);
    return 1;
  }
  rscapret_model* model = NULL;
  if (check(rscapret_model_load(argv[2], NULL, &model), "load model")) return 1;
  const int rc = strcmp(argv[1], "caption") == 0 ? caption(model, argv + 3, (size_t)(argc - 3))
                                                 : search(model, argv[3], argv[4], argv + 5, (size_t)(argc - 5));
  rscapret_model_free(model);
  return rc;
}
