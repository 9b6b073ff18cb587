/*
 * panic.c: the panic boundary. Run with ERGON_FFI_TEST_PANIC=ergon_perseus_frontier_solve (the
 * library reads it once per process), which makes that function panic inside the library: the
 * call returns ERGON_STATUS_PANIC with a message instead of unwinding into C, the process goes
 * on, other functions work, and the handle can still be freed.
 *
 * Usage: ERGON_FFI_TEST_PANIC=ergon_perseus_frontier_solve panic DATA_DIR
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ergon.h"

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
  size_t len = 0;
  char *json = check_read_file(path, &len);

  ergon_perseus_frontier *f = NULL;
  MUST(ergon_perseus_frontier_from_instance_json(json, len, &f));
  for (int attempt = 0; attempt < 2; attempt++) {
    /* The panic's message, naming the function, is the handle's and the thread's. */
    EXPECT_FAIL_ON(f, ERGON_STATUS_PANIC, "ergon_perseus_frontier_solve",
                   ergon_perseus_frontier_solve(f));
    CHECK(strstr(check_thread_message(), "internal error") != NULL);
  }
  /* The handle is unchanged (not solved) and other calls work. */
  size_t points = 0;
  EXPECT_FAIL_ON(f, ERGON_STATUS_NOT_SOLVED, NULL,
                 ergon_perseus_frontier_num_points(f, &points));
  ergon_perseus_frontier *g = NULL;
  MUST(ergon_perseus_frontier_from_instance_json(json, len, &g));
  ergon_perseus_frontier_free(g);
  ergon_perseus_frontier_free(f);
  free(json);
  return check_finish();
}
