/*
 * zeus.c: the Zeus power-limit optimizer of the C ABI from C, against the fake NVML
 * (tests/fake-nvml) with every GPU drawing 250 W capped by its power limit. Candidates 400,
 * 250 and 100 W (the fake A100's range, 150 W apart), one warm-up and two measured steps of
 * 20 ms each, the energy selector: 100 W draws the least energy and must be chosen, applied
 * and held. Checks: the defaults, the refused options (η outside [0, 1], an unknown selector,
 * no measured step, no device), the phases, the sync callback around every window and the
 * aggregate callback once per window, the profile JSON, an aggregate that fails stopping the
 * optimizer (GPU, then INVALID_STATE), and the fake GPU's limit while the optimum is held.
 * Then the batch-size optimizer, resumed from its zeus-bso-state/v1 JSON every recurrence,
 * against the reference's pruning order, with its refused inputs.
 *
 * Usage: zeus MODE   (run | valgrind: the same calls; the harness checks the fake's log)
 *
 * The harness (ffi/tests/c_abi.rs) sets ERGON_NVML_LIBRARY, FAKE_NVML_LOG, FAKE_NVML_STATE,
 * ERGON_STATE_DIR and FAKE_NVML_POWER_W=250, asserts the fake's log of power-limit calls and
 * that the GPU is back in its original state at the end.
 */

#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ergon.h"

struct counters {
  int syncs;
  int aggregates;
  bool fail;
};

static void count_sync(void *user_data) { ((struct counters *)user_data)->syncs++; }

/* One rank: the job's totals are this process's. */
static bool aggregate(void *user_data, double *energy_j, double *time_s) {
  struct counters *c = (struct counters *)user_data;
  c->aggregates++;
  return !c->fail && *energy_j > 0.0 && *time_s > 0.0;
}

static void sleep_ms(long ms) {
  struct timespec t = {0, ms * 1000000L};
  nanosleep(&t, NULL);
}

/* The fake GPU 0's power limit in its state file, mW (0 if unreadable). */
static unsigned fake_limit_mw(void) {
  const char *path = getenv("FAKE_NVML_STATE");
  FILE *f = path ? fopen(path, "r") : NULL;
  char line[512] = "";
  unsigned mw = 0;
  if (f != NULL) {
    if (fgets(line, sizeof line, f) != NULL) {
      const char *at = strstr(line, "power_limit_mw=");
      if (at != NULL) {
        mw = (unsigned)strtoul(at + strlen("power_limit_mw="), NULL, 10);
      }
    }
    fclose(f);
  }
  return mw;
}

static ergon_zeus_power_limit_options small_options(struct counters *c) {
  ergon_zeus_power_limit_options o = ergon_zeus_power_limit_options_default();
  o.wait_steps = 0;
  o.warmup_steps = 1;
  o.profile_steps = 2;
  o.step_mw = 150000;
  o.selector = ERGON_ZEUS_SELECTOR_ENERGY;
  o.sync = count_sync;
  o.aggregate = aggregate;
  o.user_data = c;
  return o;
}

static const char *const DEVICES[1] = {"0"};
static const size_t DEVICE_LENS[1] = {1};

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "valgrind") != 0)) {
    fprintf(stderr, "usage: zeus run|valgrind\n");
    return 2;
  }
  ergon_zeus_power_limit_options d = ergon_zeus_power_limit_options_default();
  CHECK(d.wait_steps == 1 && d.warmup_steps == 10 && d.profile_steps == 40);
  CHECK(d.step_mw == 25000 && d.selector == ERGON_ZEUS_SELECTOR_ZEUS_COST && d.eta == 0.5);
  CHECK(d.gpu_count == 0 && d.profile_path == NULL && d.restore_on_signal);

  /* Bad input: refused before anything changes. */
  ergon_zeus_power_limit_optimizer *p = NULL;
  ergon_zeus_power_limit_options bad = d;
  EXPECT_FAIL_AFTER(bad = d, bad.eta = 1.5, ERGON_STATUS_INVALID_ARGUMENT, "eta",
                    ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 1, &bad, &p));
  EXPECT_FAIL_AFTER(bad = d, bad.selector = 9, ERGON_STATUS_INVALID_ARGUMENT, "selector",
                    ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 1, &bad, &p));
  EXPECT_FAIL_AFTER(bad = d, bad.profile_steps = 0, ERGON_STATUS_INVALID_ARGUMENT,
                    "profile_steps",
                    ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 1, &bad, &p));
  EXPECT_FAIL_AFTER(bad = d, bad.selector = ERGON_ZEUS_SELECTOR_MAX_SLOWDOWN;
                    bad.max_slowdown = 0.5, ERGON_STATUS_INVALID_ARGUMENT, "max_slowdown",
                    ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 1, &bad, &p));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "at least one GPU",
              ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 0, NULL, &p));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL,
              ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 1, NULL, NULL));
  CHECK(p == NULL);

  /* A whole profiling run. */
  struct counters c = {0, 0, false};
  ergon_zeus_power_limit_options o = small_options(&c);
  MUST(ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 1, &o, &p));
  ergon_zeus_power_limit_state s;
  MUST(ergon_zeus_power_limit_optimizer_get_state(p, &s));
  CHECK(s.phase == ERGON_ZEUS_PHASE_READY && s.limit_mw == 400000 && s.candidates == 3);
  CHECK(fake_limit_mw() == 400000);
  int steps = 0;
  for (; steps < 50 && s.phase != ERGON_ZEUS_PHASE_DONE; steps++) {
    MUST(ergon_zeus_power_limit_optimizer_on_step_begin(p));
    sleep_ms(20);
    MUST(ergon_zeus_power_limit_optimizer_get_state(p, &s));
  }
  /* 1 step to set 400 W, then 3 limits × (1 warm-up + 2 measured) steps. */
  CHECK(steps == 10);
  CHECK(s.phase == ERGON_ZEUS_PHASE_DONE && s.optimal_limit_mw == 100000 && s.profiled == 3);
  CHECK(c.syncs == 6 && c.aggregates == 3);
  CHECK(fake_limit_mw() == 100000);
  char *json = NULL;
  MUST_TEXT(ergon_zeus_power_limit_optimizer_profile_json, p, json);
  CHECK(strncmp(json, "{\"schema\":\"zeus-power-profile/v1\",\"measurements\":[{\"power_limit_mw\":400000,", 75) == 0);
  CHECK(strstr(json, "\"power_limit_mw\":250000") != NULL);
  CHECK(strstr(json, "\"power_limit_mw\":100000") != NULL);
  free(json);
  /* Held: epoch ends and steps change nothing. */
  MUST(ergon_zeus_power_limit_optimizer_on_epoch_end(p));
  MUST(ergon_zeus_power_limit_optimizer_on_step_begin(p));
  CHECK(fake_limit_mw() == 100000);
  ergon_zeus_power_limit_optimizer_free(p);
  CHECK(fake_limit_mw() == 300000);

  /* An aggregate that fails stops the optimizer and restores the GPU. */
  struct counters f = {0, 0, true};
  o = small_options(&f);
  MUST(ergon_zeus_power_limit_optimizer_new(DEVICES, DEVICE_LENS, 1, &o, &p));
  ergon_status status = ERGON_STATUS_OK;
  for (int i = 0; i < 10 && status == ERGON_STATUS_OK; i++) {
    status = ergon_zeus_power_limit_optimizer_on_step_begin(p);
  }
  CHECK(status == ERGON_STATUS_GPU);
  CHECK(strstr(HANDLE_MESSAGE(p), "aggregate callback returned false") != NULL);
  CHECK(fake_limit_mw() == 300000);
  EXPECT_FAIL_ON(p, ERGON_STATUS_INVALID_STATE, "stopped",
                 ergon_zeus_power_limit_optimizer_on_step_begin(p));
  MUST(ergon_zeus_power_limit_optimizer_get_state(p, &s));
  CHECK(s.phase == ERGON_ZEUS_PHASE_STOPPED);
  ergon_zeus_power_limit_optimizer_free(p);
  ergon_zeus_power_limit_optimizer_free(NULL);

  /* The batch-size optimizer, its state through JSON between recurrences. Sizes 8..64 from
   * 32, costs 0.5*E + 0.5*300*T with E = 0 and T = 14, 10, 12, 16 s: 2100, 1500, 1800, 2400 J,
   * all reaching the target within beta = 2 x the best. The reference's pruning (zeus
   * PruningExploreManager) walks 32, 16, 8, 64, then from the cheapest, 16: 16, 8, 32, 64. */
  static const uint32_t SIZES[4] = {8, 16, 32, 64};
  static const double TIME_S[4] = {14.0, 10.0, 12.0, 16.0};
  static const uint32_t WANT[8] = {32, 16, 8, 64, 16, 8, 32, 64};
  ergon_zeus_batch_size_options bo = ergon_zeus_batch_size_options_default();
  CHECK(bo.eta == 0.5 && bo.beta == 2.0 && bo.num_pruning_rounds == 2 && bo.seed == 1);
  ergon_zeus_batch_size_optimizer *b = NULL;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "max_power_w",
              ergon_zeus_batch_size_optimizer_new(SIZES, 4, 32, &bo, &b));
  bo.max_power_w = 300.0;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "default batch size 48",
              ergon_zeus_batch_size_optimizer_new(SIZES, 4, 48, &bo, &b));
  MUST(ergon_zeus_batch_size_optimizer_new(SIZES, 4, 32, &bo, &b));
  char *state = NULL;
  MUST_TEXT(ergon_zeus_batch_size_optimizer_to_json, b, state);
  ergon_zeus_batch_size_optimizer_free(b);
  for (int r = 0; r < 8; r++) {
    MUST(ergon_zeus_batch_size_optimizer_from_json(state, strlen(state), &b));
    free(state);
    uint32_t size = 0;
    MUST(ergon_zeus_batch_size_optimizer_next_batch_size(b, &size));
    CHECK(size == WANT[r]);
    int k = size == 8 ? 0 : size == 16 ? 1 : size == 32 ? 2 : 3;
    if (r == 0) {
      EXPECT_FAIL_ON(b, ERGON_STATUS_INVALID_STATE, "expected a result for batch size",
                     ergon_zeus_batch_size_optimizer_report(b, 8, 1.0, 1.0, true));
      EXPECT_FAIL_ON(b, ERGON_STATUS_INVALID_ARGUMENT, "time_s",
                     ergon_zeus_batch_size_optimizer_report(b, size, -1.0, 1.0, true));
    }
    MUST(ergon_zeus_batch_size_optimizer_report(b, size, TIME_S[k], 0.0, true));
    MUST_TEXT(ergon_zeus_batch_size_optimizer_to_json, b, state);
    ergon_zeus_batch_size_optimizer_free(b);
  }
  MUST(ergon_zeus_batch_size_optimizer_from_json(state, strlen(state), &b));
  double limit = 0.0;
  MUST(ergon_zeus_batch_size_optimizer_cost_limit(b, &limit));
  CHECK(limit == 3000.0);
  ergon_zeus_batch_size_optimizer_free(b);
  free(state);
  EXPECT_FAIL(ERGON_STATUS_SCHEMA, "zeus-bso-state/v1",
              ergon_zeus_batch_size_optimizer_from_json(TEXT("{\"schema\":\"zeus-sim/v1\"}"), &b));
  EXPECT_FAIL(ERGON_STATUS_PARSE, NULL,
              ergon_zeus_batch_size_optimizer_from_json(TEXT("{not json"), &b));
  return check_finish();
}
