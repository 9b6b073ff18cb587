/*
 * orloj.c: the Orloj batcher from C. The score oracle of the reference notes (apps A =
 * {10 ms, 30 ms} w.p. 1/2 each and B = 20 ms; r1 (A, 35 ms), r2 (A, 12 ms), r3 (B, 25 ms) at
 * now 0, s(b) = 1): Orloj runs {r2, r1}, and with p_min = 0.6 drops r2 and runs {r1, r3}; a
 * small server loop (arrivals, decisions when idle, completions fed back) that accounts for
 * every request exactly once; the buffer-too-small contract; bad input; the simulator's JSON
 * read with "ask the length, then fill".
 *
 * Usage: orloj   (no arguments)
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ergon.h"

#define MS 1e-3

static ergon_orloj_app constant_app(const char *name, double value_s, double slo_s) {
  ergon_orloj_app a;
  memset(&a, 0, sizeof a);
  a.name = name;
  a.name_len = strlen(name);
  a.slo_s = slo_s;
  a.kind = ERGON_ORLOJ_EXEC_CONSTANT;
  a.value_s = value_s;
  return a;
}

static ergon_orloj_app app_a(void) {
  ergon_orloj_app a = constant_app("A", 0.0, 0.1);
  a.kind = ERGON_ORLOJ_EXEC_BIMODAL;
  a.low_s = 10 * MS;
  a.high_s = 30 * MS;
  a.p_low = 0.5;
  return a;
}

/* One decision with ample buffers; returns the batch length, fills the arrays. */
static size_t decide(ergon_orloj_batcher *b, double now_s, uint64_t batch[64],
                     size_t *dropped_len, uint64_t dropped[64], double *expected_s) {
  size_t batch_len = 0;
  MUST(ergon_orloj_batcher_next_batch(b, now_s, batch, 64, &batch_len, dropped, 64,
                                      dropped_len, expected_s));
  return batch_len;
}

static void oracle(double p_min) {
  ergon_orloj_app apps[2];
  apps[0] = app_a();
  apps[1] = constant_app("B", 20 * MS, 0.1);
  ergon_orloj_batcher_options o = ergon_orloj_batcher_options_default();
  o.p_min = p_min;
  o.grid_span_s = 63 * MS; /* a 1 ms grid: the notes' times are grid points */
  o.bins = 64;
  ergon_orloj_batcher *b = NULL;
  MUST(ergon_orloj_batcher_new(apps, 2, NULL, 8, &o, &b));
  MUST(ergon_orloj_batcher_enqueue(b, 0, 1, 0.0, 35 * MS));
  MUST(ergon_orloj_batcher_enqueue(b, 0, 2, 0.0, 12 * MS));
  MUST(ergon_orloj_batcher_enqueue(b, 1, 3, 0.0, 25 * MS));
  uint64_t batch[64], dropped[64];
  size_t nd = 0;
  double expected = -1;
  size_t nb = decide(b, 0.0, batch, &nd, dropped, &expected);
  CHECK(fabs(expected - 25 * MS) < 1e-12);
  if (p_min < 0.5) {
    /* Tie at 0.05 between {r3} and the same-app {r2, r1}: the larger batch wins. */
    CHECK(nb == 2 && batch[0] == 2 && batch[1] == 1);
    CHECK(nd == 0);
  } else {
    /* r2 alone finishes in time w.p. 1/2 < 0.6: dropped; then the notes' argmax {r1, r3}. */
    CHECK(nd == 1 && dropped[0] == 2);
    CHECK(nb == 2 && batch[0] == 1 && batch[1] == 3);
  }
  printf("oracle p_min %.2f: batch of %zu, %zu dropped, E[T] %.1f ms\n", p_min, nb, nd,
         expected / MS);
  ergon_orloj_batcher_free(b);
}

/* A server loop: requests of two apps arrive every 4 ms; the accelerator runs one batch at a
 * time, taking the scale factor times the slowest member (true times: 6 ms and 15 ms). */
static void server_loop(void) {
  ergon_orloj_app apps[2];
  apps[0] = constant_app("small", 6 * MS, 40 * MS);
  apps[0].kind = ERGON_ORLOJ_EXEC_LOGNORMAL;
  apps[0].mean_s = 6 * MS;
  apps[0].cv = 0.5;
  apps[1] = constant_app("large", 15 * MS, 60 * MS);
  const double scale[4] = {1.0, 1.1, 1.2, 1.3};
  ergon_orloj_batcher *b = NULL;
  MUST(ergon_orloj_batcher_new(apps, 2, scale, 4, NULL, &b));
  size_t max_batch = 0;
  MUST(ergon_orloj_batcher_max_batch_size(b, &max_batch));
  CHECK(max_batch == 4);

  enum { REQUESTS = 200 };
  int seen[REQUESTS];
  memset(seen, 0, sizeof seen);
  uint64_t batch[64], dropped[64];
  size_t next = 0, batches = 0, finished = 0, late = 0, gone = 0;
  double now = 0.0;
  for (;;) {
    while (next < REQUESTS && next * 4 * MS <= now + 1e-12) {
      MUST(ergon_orloj_batcher_enqueue_slo(b, next % 2, next, next * 4 * MS));
      next++;
    }
    size_t queued = 0;
    MUST(ergon_orloj_batcher_queued(b, &queued));
    if (queued == 0) {
      if (next == REQUESTS) {
        break;
      }
      now = next * 4 * MS;
      continue;
    }
    size_t nd = 0;
    double expected = 0;
    size_t nb = decide(b, now, batch, &nd, dropped, &expected);
    for (size_t i = 0; i < nd; i++) {
      CHECK(dropped[i] < REQUESTS && seen[dropped[i]] == 0);
      seen[dropped[i] % REQUESTS]++;
      gone++;
    }
    if (nb == 0) {
      if (next == REQUESTS) {
        break; /* the policy waits for ever: the rest is never served */
      }
      now = next * 4 * MS;
      continue;
    }
    CHECK(nb <= max_batch && expected > 0);
    double slowest = 0;
    for (size_t i = 0; i < nb; i++) {
      double t = (batch[i] % 2 == 0) ? 6 * MS : 15 * MS;
      slowest = t > slowest ? t : slowest;
    }
    double took = scale[nb - 1] * slowest;
    now += took;
    for (size_t i = 0; i < nb; i++) {
      uint64_t id = batch[i];
      CHECK(id < REQUESTS && seen[id] == 0);
      seen[id % REQUESTS]++;
      double deadline = id * 4 * MS + (id % 2 == 0 ? 40 : 60) * MS;
      if (now <= deadline + 1e-12) {
        finished++;
      } else {
        late++;
      }
      MUST(ergon_orloj_batcher_complete(b, id % 2, id % 2 == 0 ? 6 * MS : 15 * MS));
    }
    MUST(ergon_orloj_batcher_batch_done(b, took));
    batches++;
  }
  size_t queued = 0;
  MUST(ergon_orloj_batcher_queued(b, &queued));
  size_t accounted = finished + late + gone + queued;
  CHECK(accounted == REQUESTS);
  CHECK(finished > REQUESTS / 2);
  ergon_orloj_app_stats s;
  MUST(ergon_orloj_batcher_app_stats(b, 1, &s));
  CHECK(s.completions > 0 && fabs(s.mean_s - 15 * MS) < 1e-3);
  printf("server loop: %zu batches, %zu finished, %zu late, %zu dropped, %zu left\n", batches,
         finished, late, gone, queued);
  ergon_orloj_batcher_free(b);
}

static void buffer_too_small(void) {
  ergon_orloj_app apps[1];
  apps[0] = constant_app("x", 10 * MS, 0.1);
  ergon_orloj_batcher_options o = ergon_orloj_batcher_options_default();
  o.policy = ERGON_ORLOJ_POLICY_EDF;
  ergon_orloj_batcher *b = NULL;
  MUST(ergon_orloj_batcher_new(apps, 1, NULL, 4, &o, &b));
  for (uint64_t id = 1; id <= 3; id++) {
    MUST(ergon_orloj_batcher_enqueue(b, 0, id, 0.0, 100 * MS));
  }
  uint64_t batch[4] = {0, 0, 0, 0};
  size_t nb = 0, nd = 0;
  CHECK(ergon_orloj_batcher_next_batch(b, 0.0, batch, 1, &nb, NULL, 0, &nd, NULL) ==
        ERGON_STATUS_BUFFER_TOO_SMALL);
  CHECK(nb == 3 && nd == 0);
  CHECK(batch[0] == 0); /* nothing written on failure */
  size_t queued = 99;
  MUST(ergon_orloj_batcher_queued(b, &queued));
  CHECK(queued == 0); /* the decision is kept in the handle */
  MUST(ergon_orloj_batcher_next_batch(b, 1.0, batch, nb, &nb, NULL, 0, &nd, NULL));
  CHECK(nb == 3 && batch[0] == 1 && batch[1] == 2 && batch[2] == 3);
  ergon_orloj_batcher_free(b);
}

static void bad_input(void) {
  ergon_orloj_app apps[1];
  apps[0] = constant_app("resnet", 10 * MS, 0.0);
  ergon_orloj_batcher *b = NULL;
  EXPECT_FAIL(ERGON_STATUS_INVALID_PROBLEM, "resnet",
              ergon_orloj_batcher_new(apps, 1, NULL, 4, NULL, &b));
  CHECK(b == NULL);
  /* The name is its pointer and length, not NUL-terminated; NULL names it by its index. */
  apps[0].name = "resnet-50";
  apps[0].name_len = 6;
  EXPECT_FAIL(ERGON_STATUS_INVALID_PROBLEM, "resnet",
              ergon_orloj_batcher_new(apps, 1, NULL, 4, NULL, &b));
  CHECK(strstr(check_thread_message(), "resnet-50") == NULL);
  apps[0].name = NULL;
  apps[0].name_len = 0;
  EXPECT_FAIL(ERGON_STATUS_INVALID_PROBLEM, "app 0",
              ergon_orloj_batcher_new(apps, 1, NULL, 4, NULL, &b));
  apps[0] = constant_app("resnet", 10 * MS, 0.0);
  apps[0].slo_s = 0.1;
  apps[0].kind = 42;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, NULL,
              ergon_orloj_batcher_new(apps, 1, NULL, 4, NULL, &b));
  apps[0].kind = ERGON_ORLOJ_EXEC_CONSTANT;
  ergon_orloj_batcher_options o = ergon_orloj_batcher_options_default();
  o.policy = 17;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, NULL,
              ergon_orloj_batcher_new(apps, 1, NULL, 4, &o, &b));
  EXPECT_FAIL(ERGON_STATUS_INVALID_PROBLEM, NULL,
              ergon_orloj_batcher_new(apps, 0, NULL, 4, NULL, &b));
  MUST(ergon_orloj_batcher_new(apps, 1, NULL, 4, NULL, &b));
  EXPECT_FAIL_ON(b, ERGON_STATUS_INVALID_ARGUMENT, NULL,
                 ergon_orloj_batcher_enqueue(b, 0, 1, NAN, 1.0));
  EXPECT_FAIL_ON(b, ERGON_STATUS_OUT_OF_RANGE, "unknown app 3",
                 ergon_orloj_batcher_enqueue(b, 3, 1, 0.0, 1.0));
  EXPECT_FAIL_ON(b, ERGON_STATUS_INVALID_ARGUMENT, NULL,
                 ergon_orloj_batcher_complete(b, 0, -1.0));
  size_t nb = 0, nd = 0;
  uint64_t batch[4];
  EXPECT_FAIL_ON(b, ERGON_STATUS_INVALID_ARGUMENT, NULL,
                 ergon_orloj_batcher_next_batch(b, NAN, batch, 4, &nb, NULL, 0, &nd, NULL));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL,
              ergon_orloj_batcher_next_batch(NULL, 0.0, batch, 4, &nb, NULL, 0, &nd, NULL));
  ergon_orloj_batcher_free(b);
  ergon_orloj_batcher_free(NULL);
}

static const char SIM[] =
    "{\"schema\": \"orloj-sim/v1\", \"seed\": 5, \"duration_s\": 0.5,"
    " \"apps\": [{\"name\": \"ee\", \"share\": 0.5, \"slo_s\": 0.04,"
    "   \"exec_time\": {\"kind\": \"bimodal\", \"low_s\": 0.006, \"high_s\": 0.02, \"p_low\": 0.3}},"
    "  {\"name\": \"nlp\", \"share\": 0.5, \"slo_s\": 0.06,"
    "   \"exec_time\": {\"kind\": \"lognormal\", \"mean_s\": 0.03, \"cv\": 1.0}}],"
    " \"batch\": {\"max_size\": 4}, \"arrivals\": {\"kind\": \"poisson\", \"load\": 0.8},"
    " \"policies\": [\"orloj\", \"edf\"]}";

static void simulate(void) {
  ergon_orloj_simulation *r = NULL;
  MUST(ergon_orloj_simulation_run_json(SIM, strlen(SIM), &r));
  char *json = NULL;
  MUST_TEXT(ergon_orloj_simulation_to_json, r, json);
  CHECK(strstr(json, "\"schema\":\"orloj-result/v1\"") != NULL);
  CHECK(strstr(json, "\"policy\":\"orloj\"") != NULL && strstr(json, "\"policy\":\"edf\""));
  printf("simulation: %zu bytes of orloj-result/v1\n", strlen(json));
  free(json);
  ergon_orloj_simulation_free(r);
  ergon_orloj_simulation *bad = NULL;
  EXPECT_FAIL(ERGON_STATUS_PARSE, NULL, ergon_orloj_simulation_run_json("{", 1, &bad));
  CHECK(bad == NULL);
}

int main(void) {
  oracle(0.05);
  oracle(0.6);
  server_loop();
  buffer_too_small();
  bad_input();
  simulate();
  return check_finish();
}
