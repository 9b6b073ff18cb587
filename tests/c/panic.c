/*
 * panic.c: the panic boundary. Run with ERGON_FFI_TEST_PANIC=ergon_perseus_frontier_solve (the library
 * reads it once per process), which makes that function panic inside the library: the call
 * returns ERGON_STATUS_PANIC with a message instead of unwinding into C, the process goes on,
 * other functions work, and the handle can still be freed.
 *
 * Usage: ERGON_FFI_TEST_PANIC=ergon_perseus_frontier_solve panic DATA_DIR
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ergon.h"

static int failures = 0;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                \
      failures++;                                                                             \
    }                                                                                         \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  const char *hook = getenv("ERGON_FFI_TEST_PANIC");
  if (hook == NULL || strcmp(hook, "ergon_perseus_frontier_solve") != 0) {
    fprintf(stderr, "run with ERGON_FFI_TEST_PANIC=ergon_perseus_frontier_solve\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/a100_s2_m4.instance.json", argv[1]);
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    perror(path);
    return 1;
  }
  static char json[1 << 20];
  size_t len = fread(json, 1, sizeof json, file);
  fclose(file);

  ergon_perseus_frontier *f = NULL;
  CHECK(ergon_perseus_frontier_from_instance_json(json, len, &f) == ERGON_STATUS_OK);
  if (f == NULL) {
    return 1;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    ergon_status s = ergon_perseus_frontier_solve(f);
    CHECK(s == ERGON_STATUS_PANIC);
    char handle_msg[1024], thread_msg[1024];
    size_t n = 0;
    CHECK(ergon_perseus_frontier_last_error(f, handle_msg, sizeof handle_msg, &n) == ERGON_STATUS_OK);
    CHECK(n > 0);
    CHECK(ergon_last_error(thread_msg, sizeof thread_msg, &n) == ERGON_STATUS_OK);
    CHECK(strcmp(handle_msg, thread_msg) == 0);
    CHECK(strstr(handle_msg, "ergon_perseus_frontier_solve") != NULL);
    CHECK(strstr(handle_msg, "internal error") != NULL);
    printf("solve -> %d (%s): %s\n", (int)s, ergon_status_str((int)s), handle_msg);
  }
  /* The handle is unchanged (not solved) and other calls work. */
  size_t points = 0;
  CHECK(ergon_perseus_frontier_num_points(f, &points) == ERGON_STATUS_NOT_SOLVED);
  ergon_perseus_frontier *g = NULL;
  CHECK(ergon_perseus_frontier_from_instance_json(json, len, &g) == ERGON_STATUS_OK);
  ergon_perseus_frontier_free(g);
  ergon_perseus_frontier_free(f);

  if (failures != 0) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
