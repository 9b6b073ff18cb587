/*
 * gpu.c: the GPU part of the C ABI from C, against the fake NVML (tests/fake-nvml): GPU
 * count and info, a plan executor running two iterations of one stage's plan (the clock the
 * fake reports during each computation is printed, so the harness sees that each computation
 * ran at its planned clock), plan violations and NULL pointers refused with their statuses,
 * the restore when the executor is freed, and energy windows.
 *
 * Usage: gpu MODE
 *   run      everything above; ends with "all checks passed"
 *   no-nvml  ERGON_NVML_LIBRARY points nowhere: every GPU call is
 * ERGON_STATUS_NVML_UNAVAILABLE, naming the path, and writes no output;
 * ergon_gpu_state_restore without a state file is OK abandon  starts an executor, applies one
 * clock and exits without freeing it (as a killed trainer would); the harness then runs
 * `restore` restore  ergon_gpu_state_restore puts back what `abandon` left; prints "restored
 * N"
 *
 * The harness (ffi/tests/c_abi.rs) sets ERGON_NVML_LIBRARY, FAKE_NVML_LOG, FAKE_NVML_STATE and
 * ERGON_STATE_DIR, and asserts the fake's call log and final state.
 */

#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ergon.h"
#include "gpu_fixture.h"

/* The fake's current graphics-clock lock ("1200:1200" or "none"), from its state file. */
static const char *gpu_locked(void) {
  static char out[64];
  const char *path = getenv("FAKE_NVML_STATE");
  snprintf(out, sizeof out, "?");
  FILE *f = path ? fopen(path, "r") : NULL;
  if (f == NULL) {
    return out;
  }
  char line[512];
  if (fgets(line, sizeof line, f) != NULL) {
    const char *at = strstr(line, "gpu_locked=");
    if (at != NULL) {
      at += strlen("gpu_locked=");
      size_t n = strcspn(at, " \n");
      if (n >= sizeof out) {
        n = sizeof out - 1;
      }
      memcpy(out, at, n);
      out[n] = '\0';
    }
  }
  fclose(f);
  return out;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static ergon_perseus_plan *make_plan(ergon_perseus_frontier **frontier_out) {
  ergon_perseus_pipeline pipeline = GPU_PIPELINE;
  ergon_perseus_frontier *f = NULL;
  MUST(ergon_perseus_frontier_from_profile_csv(
      GPU_PROFILE_CSV, strlen(GPU_PROFILE_CSV), &pipeline, GPU_UNIT_TIME_S, GPU_P_BLOCKING_W,
      ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER, &f));
  MUST(ergon_perseus_frontier_solve(f));
  ergon_perseus_plan *plan = NULL;
  MUST(ergon_perseus_frontier_plan(f, ERGON_PERSEUS_PLAN_T_STAR, 0.0, &plan));
  *frontier_out = f;
  return plan;
}

static void check_program(const ergon_perseus_plan *plan) {
  uint32_t kinds[8], freqs[8];
  size_t len = 0;
  MUST(ergon_perseus_plan_stage(plan, 0, kinds, freqs, 8, &len));
  CHECK(len == GPU_PROGRAM_LEN);
  for (size_t i = 0; i < len && i < GPU_PROGRAM_LEN; ++i) {
    CHECK(kinds[i] == GPU_PROGRAM_KINDS[i]);
    CHECK(freqs[i] == GPU_PROGRAM_FREQS_MHZ[i]);
  }
}

/* One iteration, waiting for each clock as a computation longer than the setter would. */
static void iteration(ergon_gpu_executor *e, int number) {
  for (size_t i = 0; i < GPU_PROGRAM_LEN; ++i) {
    MUST(ergon_gpu_executor_instruction_begin(e, GPU_PROGRAM_KINDS[i]));
    MUST(ergon_gpu_executor_wait_applied(e));
    printf("iteration %d: %s at %s\n", number,
           GPU_PROGRAM_KINDS[i] == ERGON_PERSEUS_KIND_FORWARD ? "F" : "B", gpu_locked());
  }
  MUST(ergon_gpu_executor_step_end(e));
}

static void gpu_info(void) {
  uint32_t n = 99;
  MUST(ergon_gpu_device_count(&n));
  CHECK(n == 1);
  ergon_gpu_device_info info;
  memset(&info, 0x55, sizeof info);
  MUST(ergon_gpu_device_get_info(0, &info));
  CHECK(info.index == 0);
  CHECK(info.architecture == 7);
  CHECK(!info.is_mig);
  CHECK(memchr(info.uuid, '\0', sizeof info.uuid) != NULL);
  CHECK(strncmp(info.uuid, "GPU-", 4) == 0);
  CHECK(strcmp(info.name, "NVIDIA A100-SXM4-40GB") == 0);
  printf("gpu 0: arch %u, %s\n", info.architecture, info.name);
  ergon_gpu_device_info untouched;
  memset(&untouched, 0x55, sizeof untouched);
  EXPECT_FAIL(ERGON_STATUS_OUT_OF_RANGE, "GPU 1 does not exist",
              ergon_gpu_device_get_info(1, &untouched));
  CHECK(untouched.index == 0x55555555u); /* nothing written on failure */
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "out", ergon_gpu_device_count(NULL));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "out", ergon_gpu_device_get_info(0, NULL));
}

static void executor_errors(ergon_perseus_frontier *frontier, const ergon_perseus_plan *plan) {
  ergon_gpu_executor *e = NULL;
  /* Checked before NVML is touched. */
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "device",
              ergon_gpu_executor_new(NULL, 1, plan, 0, &e));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "plan",
              ergon_gpu_executor_new(TEXT("0"), NULL, 0, &e));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "out",
              ergon_gpu_executor_new(TEXT("0"), plan, 0, NULL));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "plan",
              ergon_gpu_executor_new(TEXT("0"), (const ergon_perseus_plan *)frontier, 0, &e));
  EXPECT_FAIL(ERGON_STATUS_OUT_OF_RANGE, "stage 5",
              ergon_gpu_executor_new(TEXT("0"), plan, 5, &e));
  EXPECT_FAIL(ERGON_STATUS_PARSE, "UTF-8", ergon_gpu_executor_new(TEXT("\xff"), plan, 0, &e));
  CHECK(e == NULL);
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL,
              ergon_gpu_executor_instruction_begin(NULL, ERGON_PERSEUS_KIND_FORWARD));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL, ergon_gpu_executor_step_end(NULL));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL, ergon_gpu_executor_wait_applied(NULL));
  size_t len = 0;
  CHECK(ergon_gpu_executor_last_error(NULL, NULL, 0, &len) == ERGON_STATUS_NULL_POINTER);
  ergon_gpu_executor_free(NULL);
  /* A plan handle is not an executor. */
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL,
              ergon_gpu_executor_step_end((ergon_gpu_executor *)(void *)plan));
}

static void plan_violations(ergon_gpu_executor *e) {
  /* The plan starts with a forward pass: nothing advances on these. */
  EXPECT_FAIL_ON(e, ERGON_STATUS_INVALID_STATE, "plan mismatch",
                 ergon_gpu_executor_instruction_begin(e, ERGON_PERSEUS_KIND_BACKWARD));
  EXPECT_FAIL_ON(e, ERGON_STATUS_INVALID_ARGUMENT, "unknown instruction kind 7",
                 ergon_gpu_executor_instruction_begin(e, 7));
  MUST(ergon_gpu_executor_instruction_begin(e, ERGON_PERSEUS_KIND_FORWARD));
  MUST(ergon_gpu_executor_wait_applied(e));
  printf("after violations: F at %s\n", gpu_locked());
  EXPECT_FAIL_ON(e, ERGON_STATUS_INVALID_STATE, "incomplete iteration",
                 ergon_gpu_executor_step_end(e));
  /* Rewound: a whole iteration runs again. */
  iteration(e, 3);
}

static void energy(void) {
  ergon_gpu_energy_monitor *m = NULL;
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "device", ergon_gpu_energy_monitor_new(NULL, 1, &m));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "out", ergon_gpu_energy_monitor_new(TEXT("0"), NULL));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "GPU-ffffffff",
              ergon_gpu_energy_monitor_new(TEXT("GPU-ffffffff"), &m));
  CHECK(m == NULL);
  /* Strings in are pointer and length: the bytes after the length are not part of them. */
  MUST(ergon_gpu_energy_monitor_new("0 and what follows", 1, &m));
  MUST(ergon_gpu_energy_monitor_begin(m, TEXT("step")));
  EXPECT_FAIL_ON(m, ERGON_STATUS_INVALID_STATE, "step",
                 ergon_gpu_energy_monitor_begin(m, TEXT("step")));
  EXPECT_FAIL_ON(m, ERGON_STATUS_NULL_POINTER, "name",
                 ergon_gpu_energy_monitor_begin(m, NULL, 1));
  MUST(ergon_gpu_energy_monitor_begin(m, "inner window", 5)); /* "inner" */
  sleep_ms(60);
  double t_inner = -1.0, e_inner = -1.0, t = -1.0, j = -1.0;
  MUST(ergon_gpu_energy_monitor_end(m, TEXT("inner"), &t_inner, &e_inner));
  /* A NULL output fails and leaves the window open. */
  EXPECT_FAIL_ON(m, ERGON_STATUS_NULL_POINTER, "energy_j",
                 ergon_gpu_energy_monitor_end(m, TEXT("step"), &t, NULL));
  CHECK(t == -1.0);
  sleep_ms(40);
  MUST(ergon_gpu_energy_monitor_end(m, TEXT("step"), &t, &j));
  EXPECT_FAIL_ON(m, ERGON_STATUS_INVALID_STATE, "no energy window",
                 ergon_gpu_energy_monitor_end(m, TEXT("step"), &t_inner, &e_inner));
  /* The fake draws 100 W. The window's clock and the fake's counter are read a moment apart,
   * which a loaded machine (or valgrind) can stretch by milliseconds: hence 25 %. */
  CHECK(t_inner >= 0.055 && t_inner < 5.0);
  CHECK(t >= t_inner + 0.035 && t < 10.0);
  CHECK(fabs(e_inner - 100.0 * t_inner) <= 0.25 * 100.0 * t_inner);
  CHECK(fabs(j - 100.0 * t) <= 0.25 * 100.0 * t);
  printf("energy: inner %.3f s, step %.3f s, %.1f W\n", t_inner, t, j / t);
  ergon_gpu_energy_monitor_free(m);
  ergon_gpu_energy_monitor_free(NULL);
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL,
              ergon_gpu_energy_monitor_begin(NULL, TEXT("w")));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, NULL,
              ergon_gpu_energy_monitor_end(NULL, TEXT("w"), &t, &j));
}

static int run(void) {
  gpu_info();
  ergon_perseus_frontier *frontier = NULL;
  ergon_perseus_plan *plan = make_plan(&frontier);
  check_program(plan);
  executor_errors(frontier, plan);

  ergon_gpu_executor *e = NULL;
  MUST(ergon_gpu_executor_new(TEXT("0"), plan, 0, &e));
  CHECK(e != NULL);
  printf("after startup: %s\n", gpu_locked());
  iteration(e, 1);
  iteration(e, 2);
  plan_violations(e);
  ergon_gpu_executor_free(e); /* restores */
  printf("after free: %s\n", gpu_locked());
  ergon_perseus_plan_free(plan);
  ergon_perseus_frontier_free(frontier);

  energy();
  size_t restored = 99;
  MUST(ergon_gpu_state_restore(&restored));
  CHECK(restored == 0); /* the executor already put everything back */
  return 0;
}

static void no_nvml(void) {
  uint32_t n = 99;
  EXPECT_FAIL(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent", ergon_gpu_device_count(&n));
  CHECK(n == 99);
  ergon_gpu_device_info info;
  memset(&info, 0, sizeof info);
  EXPECT_FAIL(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent",
              ergon_gpu_device_get_info(0, &info));
  ergon_perseus_frontier *frontier = NULL;
  ergon_perseus_plan *plan = make_plan(&frontier);
  ergon_gpu_executor *e = NULL;
  EXPECT_FAIL(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent",
              ergon_gpu_executor_new(TEXT("0"), plan, 0, &e));
  CHECK(e == NULL);
  ergon_gpu_energy_monitor *m = NULL;
  EXPECT_FAIL(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent",
              ergon_gpu_energy_monitor_new(TEXT("0"), &m));
  CHECK(m == NULL);
  size_t restored = 99;
  MUST(ergon_gpu_state_restore(&restored)); /* no state file: nothing to do, NVML not needed */
  CHECK(restored == 0);
  ergon_perseus_plan_free(plan);
  ergon_perseus_frontier_free(frontier);
}

static void abandon(void) {
  ergon_perseus_frontier *frontier = NULL;
  ergon_perseus_plan *plan = make_plan(&frontier);
  ergon_gpu_executor *e = NULL;
  MUST(ergon_gpu_executor_new(TEXT("0"), plan, 0, &e));
  MUST(ergon_gpu_executor_instruction_begin(e, ERGON_PERSEUS_KIND_FORWARD));
  MUST(ergon_gpu_executor_wait_applied(e));
  printf("abandoned at %s\n", gpu_locked());
  fflush(stdout);
  _exit(0); /* no free, no atexit: as if killed */
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gpu run|no-nvml|abandon|restore\n");
    return 2;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "run") == 0) {
    run();
  } else if (strcmp(mode, "no-nvml") == 0) {
    no_nvml();
  } else if (strcmp(mode, "abandon") == 0) {
    abandon();
  } else if (strcmp(mode, "restore") == 0) {
    size_t restored = 0;
    MUST(ergon_gpu_state_restore(&restored));
    printf("restored %zu\n", restored);
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return check_finish();
}
