/*
 * consumer.c: a program built against an installed libergon, only through
 *   cc consumer.c $(pkg-config --cflags --libs ergon)
 * (ffi/tests/c_abi.rs installs into a temporary prefix with scripts/install.sh and builds it).
 *
 * Usage: consumer INSTANCE.json   prints the frontier's size, T_min, T* and T_max.
 */

#include <stdio.h>
#include <stdlib.h>

#include <ergon.h>

static void fail(const char *what, ergon_status status) {
  char msg[512];
  size_t len = 0;
  if (ergon_last_error(msg, sizeof msg, &len) != ERGON_STATUS_OK) {
    msg[0] = '\0';
  }
  fprintf(stderr, "%s: %s: %s\n", what, ergon_status_str((int)status), msg);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s INSTANCE.json\n", argv[0]);
    return 2;
  }
  FILE *file = fopen(argv[1], "rb");
  if (file == NULL) {
    perror(argv[1]);
    return 1;
  }
  static char json[1 << 20];
  size_t len = fread(json, 1, sizeof json, file);
  fclose(file);

  ergon_perseus_frontier *f = NULL;
  ergon_status s = ergon_perseus_frontier_from_instance_json(json, len, &f);
  if (s != ERGON_STATUS_OK) {
    fail("ergon_perseus_frontier_from_instance_json", s);
  }
  if ((s = ergon_perseus_frontier_solve(f)) != ERGON_STATUS_OK) {
    fail("ergon_perseus_frontier_solve", s);
  }
  ergon_perseus_summary sum;
  if ((s = ergon_perseus_frontier_summary(f, &sum)) != ERGON_STATUS_OK) {
    fail("ergon_perseus_frontier_summary", s);
  }
  printf("libergon %s: %zu points, T_min %.3f s, T* %.3f s (%.1f J), T_max %.3f s\n",
         ergon_version(), sum.num_points, sum.t_min_s, sum.t_star_s, sum.t_star_energy_j,
         sum.t_max_s);
  ergon_perseus_frontier_free(f);
  return 0;
}
