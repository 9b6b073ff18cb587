/*
 * auxo.c: the Auxo cohort clusterer of the C ABI from C (the C++ wrapper's test,
 * tests/cpp/auxo.cpp, covers the playground). Checks what only C can get wrong: NULL
 * pointers, an n x dim that overflows, the handle's message equal to the thread's, "ask the
 * length, then fill" for the assignment, free(NULL); and a hand-checkable split: six clients in
 * two far-apart groups of three, raw positions, a fixed split at cohort round 1: the first
 * step splits cohort 0 and the groups end up preferring different cohorts (notes B10: the
 * parent keeps the clients of its preferred half, the child gets the others).
 *
 * Usage: auxo   (no arguments)
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ergon.h"

int main(void) {
  ergon_auxo_options o = ergon_auxo_options_default();
  CHECK(o.clients == 0 && o.known_clients < 0.0 && o.min_reporters == 5);
  CHECK(o.split_test == ERGON_AUXO_SPLIT_TEST_REFERENCE);
  ergon_auxo_clusterer *c = NULL;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "options.clients", ergon_auxo_clusterer_new(&o, &c));
  CHECK(c == NULL);
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "options", ergon_auxo_clusterer_new(NULL, &c));

  const uint32_t split_at[] = {1};
  o.clients = 6;
  o.train_ratio = 1.0;
  o.known_clients = 0.0;
  o.signal = ERGON_AUXO_SIGNAL_RAW;
  o.split_test = ERGON_AUXO_SPLIT_TEST_FIXED;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "at least one round",
              ergon_auxo_clusterer_new(&o, &c));
  o.split_rounds = split_at;
  o.num_split_rounds = 1;
  o.seed = 7;
  MUST(ergon_auxo_clusterer_new(&o, &c));

  const uint32_t ids[] = {0, 1, 2, 3, 4, 5};
  const float rows[] = {-10, 0, -10.5f, 0.5f, -9.5f, -0.5f, 10, 0, 10.5f, 0.5f, 9.5f, -0.5f};
  ergon_auxo_step_result r;
  memset(&r, 0, sizeof r);
  EXPECT_FAIL_ON(c, ERGON_STATUS_NULL_POINTER, "participants",
                 ergon_auxo_clusterer_step(c, 0, NULL, 6, rows, 2, &r));
  EXPECT_FAIL_ON(c, ERGON_STATUS_NULL_POINTER, "updates",
                 ergon_auxo_clusterer_step(c, 0, ids, 6, NULL, 2, &r));
  EXPECT_FAIL_ON(c, ERGON_STATUS_NULL_POINTER, "out",
                 ergon_auxo_clusterer_step(c, 0, ids, 6, rows, 2, NULL));
  EXPECT_FAIL_ON(c, ERGON_STATUS_INVALID_ARGUMENT, "overflows",
                 ergon_auxo_clusterer_step(c, 0, ids, SIZE_MAX / 2, rows, 4, &r));
  EXPECT_FAIL_ON(c, ERGON_STATUS_INVALID_ARGUMENT, "at least one participant",
                 ergon_auxo_clusterer_step(c, 0, ids, 0, rows, 2, &r));
  EXPECT_FAIL_ON(c, ERGON_STATUS_INVALID_ARGUMENT, "dimension 0",
                 ergon_auxo_clusterer_step(c, 0, ids, 6, rows, 0, &r));
  float nan_rows[12];
  memcpy(nan_rows, rows, sizeof rows);
  nan_rows[7] = NAN;
  EXPECT_FAIL_ON(c, ERGON_STATUS_INVALID_ARGUMENT, "client 3",
                 ergon_auxo_clusterer_step(c, 0, ids, 6, nan_rows, 2, &r));
  const uint32_t stranger[] = {0, 1, 2, 3, 4, 6};
  EXPECT_FAIL_ON(c, ERGON_STATUS_OUT_OF_RANGE, "unknown client id 6",
                 ergon_auxo_clusterer_step(c, 0, stranger, 6, rows, 2, &r));
  EXPECT_FAIL_ON(c, ERGON_STATUS_OUT_OF_RANGE, "unknown cohort 1",
                 ergon_auxo_clusterer_step(c, 1, ids, 6, rows, 2, &r));
  uint32_t m = 99;
  EXPECT_FAIL_ON(c, ERGON_STATUS_OUT_OF_RANGE, "unknown client id 6",
                 ergon_auxo_clusterer_cohort_of(c, 6, &m));
  CHECK(m == 99 && !r.ran);

  MUST(ergon_auxo_clusterer_step(c, 0, ids, 6, rows, 2, &r));
  CHECK(r.ran && r.split && r.split_parent == 0 && r.split_child == 1 && r.num_cohorts == 2);
  CHECK(!r.merged);
  uint32_t best[6];
  for (uint32_t i = 0; i < 6; ++i) {
    MUST(ergon_auxo_clusterer_best_cohort(c, i, &best[i]));
  }
  CHECK(best[0] == best[1] && best[1] == best[2]);
  CHECK(best[3] == best[4] && best[4] == best[5]);
  CHECK(best[0] != best[3]);
  uint32_t cohorts = 0;
  MUST(ergon_auxo_clusterer_num_cohorts(c, &cohorts));
  CHECK(cohorts == 2);
  uint64_t m0 = 0, m1 = 0;
  MUST(ergon_auxo_clusterer_members(c, 0, &m0));
  MUST(ergon_auxo_clusterer_members(c, 1, &m1));
  CHECK(m0 + m1 == 6);

  size_t len = 0;
  MUST(ergon_auxo_clusterer_assignment(c, NULL, 0, &len));
  CHECK(len == 6);
  uint32_t small[3];
  EXPECT_FAIL_ON(c, ERGON_STATUS_BUFFER_TOO_SMALL, "too small",
                 ergon_auxo_clusterer_assignment(c, small, 3, &len));
  uint32_t all[6];
  MUST(ergon_auxo_clusterer_assignment(c, all, 6, &len));
  uint64_t in0 = 0;
  for (int i = 0; i < 6; ++i) {
    CHECK(all[i] < 2);
    in0 += all[i] == 0;
  }
  CHECK(in0 == m0);

  ergon_auxo_clusterer_free(c);
  ergon_auxo_clusterer_free(NULL);
  printf("auxo: two groups of three split at round 1\n");
  return check_finish();
}
