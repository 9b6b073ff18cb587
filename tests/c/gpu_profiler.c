/*
 * gpu_profiler.c: the Perseus profiler of the C ABI from C, against the fake NVML's power model
 * (tests/fake-nvml, FAKE_NVML_IDLE_W set). One stage of two instructions (forward and backward,
 * two microbatches each) is profiled; each computation is the fake's own fakeNvmlRun (looked up
 * with dlsym in the library ERGON_NVML_LIBRARY names: dlopen returns the instance ergon loaded),
 * whose duration and power depend on the locked clock. Checks: the CSV lists every profiled
 * clock (1410, 1110 and 810 MHz: step 300 MHz, and max_slowdown 1.4 stops after 810, where the
 * model's slowdown is 1.52), each time is the model's t(f) (never less, at most 30 % + 10 ms
 * more: sleeps overshoot on a busy machine), each mean power (energy / time) is the model's
 * P(f) within 8 %, the times grow as the clock falls by the model's ratio within 20 %,
 * P_blocking is the idle power, the sync callback ran around every measured computation, the
 * misuse statuses, the merge of stage CSVs, and that the GPU is back in its original state.
 *
 * Usage: gpu_profiler MODE
 *   run       everything above; ends with "all checks passed"
 *   valgrind  the same calls with the timing checks left out (valgrind slows every call)
 *
 * The harness (ffi/tests/c_abi.rs) sets ERGON_NVML_LIBRARY, FAKE_NVML_LOG, FAKE_NVML_STATE,
 * ERGON_STATE_DIR, FAKE_NVML_IDLE_W=60 and FAKE_NVML_POWER_W=300, and asserts the fake's log.
 */

#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ergon.h"

#define FORWARD_S 0.04
#define BACKWARD_S 0.08
#define N_CLOCKS 3
static const unsigned CLOCKS_MHZ[N_CLOCKS] = {1410, 1110, 810};

static int (*fake_run)(unsigned, double);
static double (*fake_power_w)(unsigned, unsigned);
static double (*fake_seconds)(unsigned, unsigned, double);

static void load_fake(void) {
  const char *path = getenv("ERGON_NVML_LIBRARY");
  void *lib = path ? dlopen(path, RTLD_NOW) : NULL;
  if (lib == NULL) {
    fprintf(stderr, "cannot load the fake NVML: %s\n", dlerror());
    exit(1);
  }
  /* POSIX: a data pointer converts to a function pointer through memcpy. */
  void *run = dlsym(lib, "fakeNvmlRun");
  void *power = dlsym(lib, "fakeNvmlBusyPowerW");
  void *seconds = dlsym(lib, "fakeNvmlBusySeconds");
  if (run == NULL || power == NULL || seconds == NULL) {
    fprintf(stderr, "the fake NVML lacks its power-model entry points\n");
    exit(1);
  }
  memcpy(&fake_run, &run, sizeof run);
  memcpy(&fake_power_w, &power, sizeof power);
  memcpy(&fake_seconds, &seconds, sizeof seconds);
}

static void count_sync(void *user_data) { (*(int *)user_data)++; }

/* The fake's graphics-clock lock in its state file ("none" when unlocked). */
static bool gpu_unlocked(void) {
  const char *path = getenv("FAKE_NVML_STATE");
  FILE *f = path ? fopen(path, "r") : NULL;
  char line[512] = "";
  if (f != NULL) {
    if (fgets(line, sizeof line, f) == NULL) {
      line[0] = '\0';
    }
    fclose(f);
  }
  return strstr(line, "gpu_locked=none") != NULL && strstr(line, "mem_locked=none") != NULL &&
         strstr(line, "power_limit_mw=300000") != NULL;
}

/* One iteration: forward, forward, backward, backward. Returns whether profiling is done. */
static bool iteration(ergon_gpu_profiler *p) {
  static const struct {
    const char *name;
    double seconds;
  } program[4] = {
      {"forward", FORWARD_S}, {"forward", FORWARD_S}, {"backward", BACKWARD_S}, {"backward", BACKWARD_S}};
  for (int i = 0; i < 4; i++) {
    MUST(ergon_gpu_profiler_instruction_begin(p, program[i].name, strlen(program[i].name)));
    CHECK(fake_run(0, program[i].seconds) == 0);
    MUST(ergon_gpu_profiler_instruction_end(p, program[i].name, strlen(program[i].name)));
  }
  bool done = false;
  MUST(ergon_gpu_profiler_step_end(p, &done));
  return done;
}

struct row {
  unsigned stage, freq_mhz;
  char instruction[16];
  double time_s, energy_j;
};

/* Parses the profiler's CSV (the header, then rows) into `rows`; returns the row count. */
static int parse_csv(char *csv, struct row *rows, int cap) {
  char *save = NULL;
  char *line = strtok_r(csv, "\n", &save);
  CHECK(line != NULL && strcmp(line, "stage,instruction,frequency,time,energy") == 0);
  int n = 0;
  while ((line = strtok_r(NULL, "\n", &save)) != NULL && n < cap) {
    struct row *r = &rows[n];
    if (sscanf(line, "%u,%15[^,],%u,%lf,%lf", &r->stage, r->instruction, &r->freq_mhz,
               &r->time_s, &r->energy_j) == 5) {
      n++;
    } else {
      CHECK(!"a CSV row does not parse");
    }
  }
  return n;
}

static const struct row *find(const struct row *rows, int n, const char *name, unsigned mhz) {
  for (int i = 0; i < n; i++) {
    if (strcmp(rows[i].instruction, name) == 0 && rows[i].freq_mhz == mhz) {
      return &rows[i];
    }
  }
  return NULL;
}

static void check_model(const struct row *rows, int n) {
  const char *names[2] = {"forward", "backward"};
  const double base_s[2] = {FORWARD_S, BACKWARD_S};
  for (int k = 0; k < 2; k++) {
    const struct row *top = find(rows, n, names[k], CLOCKS_MHZ[0]);
    for (int c = 0; c < N_CLOCKS && top != NULL; c++) {
      const struct row *r = find(rows, n, names[k], CLOCKS_MHZ[c]);
      if (!CHECK(r != NULL)) {
        continue;
      }
      double model_s = fake_seconds(0, r->freq_mhz, base_s[k]);
      double model_w = fake_power_w(0, r->freq_mhz);
      double power_w = r->energy_j / r->time_s;
      printf("%s at %u MHz: %.4f s (model %.4f), %.2f W (model %.2f)\n", names[k], r->freq_mhz,
             r->time_s, model_s, power_w, model_w);
      CHECK(r->time_s >= 0.99 * model_s && r->time_s <= 1.3 * model_s + 0.01);
      CHECK(fabs(power_w - model_w) <= 0.08 * model_w);
      /* The slowdown against the maximum clock is the model's ratio. */
      double ratio = r->time_s / top->time_s;
      double model_ratio = model_s / fake_seconds(0, CLOCKS_MHZ[0], base_s[k]);
      CHECK(fabs(ratio - model_ratio) <= 0.2 * model_ratio);
    }
  }
}

static void merge(const char *csv) {
  static const char other[] = "stage,instruction,frequency,time,energy\n"
                              "1,forward,1410,0.04,10\n";
  const char *texts[2] = {csv, other};
  size_t lens[2] = {strlen(csv), strlen(other)};
  size_t len = 0;
  MUST(ergon_perseus_profile_merge_csv(texts, lens, 2, NULL, 0, &len));
  char *merged = check_alloc(len + 1);
  MUST(ergon_perseus_profile_merge_csv(texts, lens, 2, merged, len + 1, &len));
  CHECK(strncmp(merged, "stage,", 6) == 0);
  CHECK(strstr(merged + 1, "stage,") == NULL); /* the header once */
  CHECK(strstr(merged, "\n1,forward,1410,0.04,10\n") != NULL);
  CHECK(strstr(merged, "\n7,forward,1410,") != NULL);
  free(merged);
  /* A stage twice: the duplicate is named. */
  const char *twice[2] = {csv, csv};
  size_t twice_lens[2] = {strlen(csv), strlen(csv)};
  EXPECT_FAIL(ERGON_STATUS_INVALID_PROBLEM, "stage 7 instruction forward frequency 1410",
              ergon_perseus_profile_merge_csv(twice, twice_lens, 2, NULL, 0, &len));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "texts",
              ergon_perseus_profile_merge_csv(NULL, lens, 2, NULL, 0, &len));
}

static void run(bool timing) {
  load_fake();
  int syncs = 0;
  ergon_gpu_profiler_options options = ergon_gpu_profiler_options_default();
  CHECK(options.warmup_iters == 1 && options.iters_per_clock == 2);
  CHECK(options.sync == NULL && options.restore_on_signal);
  options.step_mhz = 300;
  options.max_slowdown = 1.4;
  options.blocking_window_s = 0.3;
  options.sync = count_sync;
  options.user_data = &syncs;

  ergon_gpu_profiler *p = NULL;
  options.iters_per_clock = 0;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "iters_per_clock",
              ergon_gpu_profiler_new(TEXT("0"), 7, &options, &p));
  CHECK(p == NULL);
  options.iters_per_clock = 2;
  MUST(ergon_gpu_profiler_new(TEXT("0"), 7, &options, &p));

  ergon_gpu_profiler_progress progress;
  MUST(ergon_gpu_profiler_get_progress(p, &progress));
  CHECK(progress.freq_mhz == 1410 && progress.clocks_total == 5 && progress.iters_left == 15);
  CHECK(isnan(progress.eta_s) && progress.warming_up && !progress.done);

  /* Misuse: statuses, and nothing changes. */
  EXPECT_FAIL_ON(p, ERGON_STATUS_INVALID_STATE, "without an instruction_begin",
                 ergon_gpu_profiler_instruction_end(p, TEXT("forward")));
  EXPECT_FAIL_ON(p, ERGON_STATUS_INVALID_ARGUMENT, "comma",
                 ergon_gpu_profiler_instruction_begin(p, TEXT("a,b")));
  double p_blocking = 0.0;
  EXPECT_FAIL_ON(p, ERGON_STATUS_INVALID_STATE, "P_blocking",
                 ergon_gpu_profiler_p_blocking_w(p, &p_blocking));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "done", ergon_gpu_profiler_step_end(p, NULL));

  int iterations = 0;
  while (!iteration(p)) {
    iterations++;
    MUST(ergon_gpu_profiler_get_progress(p, &progress));
    printf("progress: %u MHz, %llu iterations left, ETA %.2f s\n", progress.freq_mhz,
           (unsigned long long)progress.iters_left, progress.eta_s);
    CHECK(progress.eta_s > 0.0);
    if (!CHECK(iterations < 20)) {
      break;
    }
  }
  CHECK(iterations + 1 == 9);
  CHECK(syncs == 6 * 8 + 1);
  MUST(ergon_gpu_profiler_get_progress(p, &progress));
  CHECK(progress.done && progress.iters_left == 0);
  MUST(ergon_gpu_profiler_p_blocking_w(p, &p_blocking));
  printf("P_blocking: %.2f W\n", p_blocking);
  if (timing) {
    CHECK(fabs(p_blocking - 60.0) < 3.0);
  }
  /* Restored as soon as profiling ended, before the handle is freed. */
  CHECK(gpu_unlocked());
  EXPECT_FAIL_ON(p, ERGON_STATUS_INVALID_STATE, "profiling is done",
                 ergon_gpu_profiler_instruction_begin(p, TEXT("forward")));

  char *csv = NULL;
  MUST_TEXT(ergon_gpu_profiler_to_csv, p, csv);
  char *copy = check_alloc(strlen(csv) + 1);
  memcpy(copy, csv, strlen(csv) + 1);
  struct row rows[16];
  int n = parse_csv(copy, rows, 16);
  CHECK(n == 2 * N_CLOCKS);
  for (int c = 0; c < N_CLOCKS; c++) {
    CHECK(find(rows, n, "forward", CLOCKS_MHZ[c]) != NULL);
    CHECK(find(rows, n, "backward", CLOCKS_MHZ[c]) != NULL);
  }
  for (int i = 0; i < n; i++) {
    CHECK(rows[i].stage == 7);
  }
  if (timing) {
    check_model(rows, n);
  }
  merge(csv);
  free(copy);
  free(csv);
  ergon_gpu_profiler_free(p);
  ergon_gpu_profiler_free(NULL);
  CHECK(gpu_unlocked());
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "valgrind") != 0)) {
    fprintf(stderr, "usage: gpu_profiler run|valgrind\n");
    return 2;
  }
  run(strcmp(argv[1], "run") == 0);
  return check_finish();
}
