/*
 * dpk.c: the DPK privacy knapsack through the C ABI. Cohere's 3-order instance (oracle O4 of
 * dpk-orloj.md) is built from arrays and from a dpk-workload/v1 document, scheduled with DPK,
 * FCFS and unweighted DPF, and read back (ids ask-then-fill, remaining budget, dpk-result/v1);
 * the RDP helpers give a block's capacity and convert it back, and the accounting helpers meet
 * dp-accounting's values (analytic Gaussian sigma, tight epsilon and delta of a DP-SGD job)
 * and their closed forms on grids longer than a workload's 16 orders; bad input (NULL
 * pointers, a handle of another type, NaN demand, a missing block, delta outside (0, 1), empty
 * orders, an unknown scheduler or conversion, classic calibration at epsilon >= 1, a buffer
 * too small) gets its status and a message naming the task, block or argument, and writes no
 * output. A small dpk-online/v1 simulation runs through ergon_dpk_online_run_json. Scheduler
 * names come from the library both ways (ergon_dpk_scheduler_name / _parse).
 *
 * Usage: dpk (no arguments). Prints "all checks passed" and exits 0 when every check holds.
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ergon.h"

/* ---------------------------------------------------------------------- the O4 instance */

#define NUM_TASKS 7
static const double ALPHAS[3] = {2.0, 3.0, 4.0};
static const double CAPACITY[3] = {1.05, 1.10, 1.15};
static const double CURVES[3][3] = {{1.0, 0.4, 0.4}, {0.4, 1.0, 0.4}, {0.4, 0.4, 1.0}};
static const int WHICH[NUM_TASKS] = {0, 0, 1, 1, 2, 1, 0};

typedef struct o4 {
  double demand[NUM_TASKS][3];
  uint64_t requested[NUM_TASKS][1];
  ergon_dpk_block blocks[1];
  ergon_dpk_task tasks[NUM_TASKS];
  ergon_dpk_problem problem;
} o4;

static void o4_init(o4 *x) {
  memset(x, 0, sizeof *x);
  x->blocks[0].id = 0;
  x->blocks[0].capacity = CAPACITY;
  x->blocks[0].capacity_len = 3;
  for (int i = 0; i < NUM_TASKS; i++) {
    memcpy(x->demand[i], CURVES[WHICH[i]], sizeof x->demand[i]);
    x->requested[i][0] = 0;
    x->tasks[i].id = (uint64_t)i;
    x->tasks[i].weight = 100.0 + 10.0 * i;
    x->tasks[i].arrival = 0.0;
    x->tasks[i].blocks = x->requested[i];
    x->tasks[i].num_blocks = 1;
    x->tasks[i].demand = x->demand[i];
    x->tasks[i].demand_len = 3;
  }
  x->problem.alphas = ALPHAS;
  x->problem.num_alphas = 3;
  x->problem.blocks = x->blocks;
  x->problem.num_blocks = 1;
  x->problem.tasks = x->tasks;
  x->problem.num_tasks = NUM_TASKS;
}

static const char O4_JSON[] =
    "{\"schema\": \"dpk-workload/v1\", \"alphas\": [2, 3, 4],"
    " \"blocks\": [{\"id\": 0, \"capacity\": [1.05, 1.10, 1.15]}],"
    " \"tasks\": ["
    "  {\"id\": 0, \"weight\": 100, \"blocks\": [0], \"demand\": [1, 0.4, 0.4]},"
    "  {\"id\": 1, \"weight\": 110, \"blocks\": [0], \"demand\": [1, 0.4, 0.4]},"
    "  {\"id\": 2, \"weight\": 120, \"blocks\": [0], \"demand\": [0.4, 1, 0.4]},"
    "  {\"id\": 3, \"weight\": 130, \"blocks\": [0], \"demand\": [0.4, 1, 0.4]},"
    "  {\"id\": 4, \"weight\": 140, \"blocks\": [0], \"demand\": [0.4, 0.4, 1]},"
    "  {\"id\": 5, \"weight\": 150, \"blocks\": [0], \"demand\": [0.4, 1, 0.4]},"
    "  {\"id\": 6, \"weight\": 160, \"blocks\": [0], \"demand\": [1, 0.4, 0.4]}]}";

/* Schedules with `scheduler` (and `dpf_weighted`), checks the allocated set (sorted) and total
 * weight, and returns the result handle. */
static ergon_dpk_result *schedule_and_check(const ergon_dpk_workload *w, uint32_t scheduler,
                                            bool dpf_weighted, uint64_t a, uint64_t b,
                                            double weight) {
  ergon_dpk_options o = ergon_dpk_options_default();
  o.scheduler = scheduler;
  o.dpf_weighted = dpf_weighted;
  ergon_dpk_result *r = NULL;
  MUST(ergon_dpk_workload_schedule(w, &o, &r));
  ergon_dpk_result_info info;
  MUST(ergon_dpk_result_summary(r, &info));
  CHECK(info.scheduler == scheduler);
  CHECK(info.num_allocated == 2);
  CHECK(check_close_to(info.total_weight, weight, 1e-9));
  /* Ask the length, then fill. */
  size_t len = 0;
  MUST(ergon_dpk_result_allocated(r, NULL, 0, &len));
  CHECK(len == 2);
  uint64_t ids[2] = {0, 0};
  MUST(ergon_dpk_result_allocated(r, ids, 2, &len));
  uint64_t lo = ids[0] < ids[1] ? ids[0] : ids[1];
  uint64_t hi = ids[0] < ids[1] ? ids[1] : ids[0];
  CHECK(lo == a && hi == b);
  return r;
}

static void check_o4(const ergon_dpk_workload *w, const char *how) {
  ergon_dpk_workload_info wi;
  MUST(ergon_dpk_workload_summary(w, &wi));
  CHECK(wi.num_alphas == 3 && wi.num_blocks == 1 && wi.num_tasks == NUM_TASKS);

  ergon_dpk_result *r = schedule_and_check(w, ERGON_DPK_SCHEDULER_DPK, true, 5, 6, 310.0);
  uint64_t ids[2];
  size_t len = 0;
  MUST(ergon_dpk_result_allocated(r, ids, 2, &len));
  CHECK(ids[0] == 6 && ids[1] == 5); /* efficiency order: 6 first */
  double remaining[3];
  MUST(ergon_dpk_result_remaining(r, remaining, 3, &len));
  CHECK(len == 3);
  CHECK(check_close_to(remaining[0], -0.35, 1e-9));
  CHECK(check_close_to(remaining[1], -0.30, 1e-9));
  CHECK(check_close_to(remaining[2], 0.35, 1e-9));
  uint64_t block_id = 99;
  MUST(ergon_dpk_result_block_ids(r, &block_id, 1, &len));
  CHECK(len == 1 && block_id == 0);
  char *json = NULL;
  MUST_TEXT(ergon_dpk_result_to_json, r, json);
  CHECK(strstr(json, "\"schema\":\"dpk-result/v1\"") != NULL);
  CHECK(strstr(json, "\"allocated\":[6,5]") != NULL);
  CHECK(strstr(json, "\"total_weight\":310.0") != NULL);
  printf("%s: DPK {6, 5} profit 310, remaining [%.2f, %.2f, %.2f]\n", how, remaining[0],
         remaining[1], remaining[2]);
  free(json);
  ergon_dpk_result_free(r);

  ergon_dpk_result_free(schedule_and_check(w, ERGON_DPK_SCHEDULER_FCFS, true, 0, 1, 210.0));
  ergon_dpk_result_free(schedule_and_check(w, ERGON_DPK_SCHEDULER_DPF, false, 2, 4, 260.0));
  ergon_dpk_result_free(schedule_and_check(w, ERGON_DPK_SCHEDULER_DPF, true, 5, 6, 310.0));
  ergon_dpk_result *opt =
      schedule_and_check(w, ERGON_DPK_SCHEDULER_OPTIMAL, true, 5, 6, 310.0);
  ergon_dpk_result_info info;
  MUST(ergon_dpk_result_summary(opt, &info));
  CHECK(info.proven_optimal && info.upper_bound == 310.0);
  ergon_dpk_result_free(opt);
}

/* ---------------------------------------------------------------------- RDP helpers */

static void rdp_helpers(void) {
  size_t len = 0;
  MUST(ergon_dpk_alphas_standard(NULL, 0, &len));
  CHECK(len == 12);
  double alphas[12], capacity[12];
  MUST(ergon_dpk_alphas_standard(alphas, 12, &len));
  CHECK(alphas[0] == 1.5 && alphas[11] == 64.0);
  MUST(ergon_dpk_block_capacity(alphas, 12, 10.0, 1e-7, capacity, 12, &len));
  CHECK(capacity[0] == 0.0);
  CHECK(check_close_to(capacity[4], 1.94, 0.005));  /* alpha = 3 */
  CHECK(check_close_to(capacity[11], 9.74, 0.005)); /* alpha = 64 */
  double eps = 0.0;
  size_t index = 0;
  MUST(ergon_dpk_curve_dp_epsilon(alphas, 12, capacity, 12, 1e-7, ERGON_DPK_CONVERSION_CLASSIC,
                                  &eps, &index));
  CHECK(check_close_to(eps, 10.0, 1e-9));
  /* A DP-SGD job: q = 0.01, sigma = 1.1, 1000 steps; its cost at (., 1e-5). */
  double curve[12];
  MUST(ergon_dpk_curve_subsampled_gaussian(alphas, 12, 0.01, 1.1, 1000.0, curve, 12, &len));
  MUST(ergon_dpk_curve_dp_epsilon(alphas, 12, curve, 12, 1e-5, ERGON_DPK_CONVERSION_TIGHT,
                                  &eps, &index));
  CHECK(eps > 0.0 && eps < 10.0 && index < 12);
  printf("DP-SGD q=0.01 sigma=1.1 1000 steps: epsilon %.3f at alpha %g (delta 1e-5)\n", eps,
         alphas[index]);
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "delta",
              ergon_dpk_block_capacity(alphas, 12, 10.0, 1.5, capacity, 12, &len));
  EXPECT_FAIL(ERGON_STATUS_BUFFER_TOO_SMALL, "too small",
              ergon_dpk_curve_gaussian(alphas, 12, 1.0, capacity, 4, &len));
  CHECK(len == 12);
}

/* The DP-SGD job of the dp-accounting oracles: q = 0.01, sigma = 1, 1e4 steps. */
static void dpsgd_oracles(const double *alphas /* the 12 standard orders */) {
  double curve[12];
  size_t len = 0, index = 99;
  MUST(ergon_dpk_curve_subsampled_gaussian(alphas, 12, 0.01, 1.0, 1e4, curve, 12, &len));
  double eps = 0.0, delta = 0.0;
  MUST(ergon_dpk_curve_dp_epsilon(alphas, 12, curve, 12, 1e-5, ERGON_DPK_CONVERSION_TIGHT,
                                  &eps, &index));
  CHECK(check_close_to(eps, 6.7194021179393335, 1e-9) && alphas[index] == 4.0);
  MUST(ergon_dpk_curve_dp_epsilon(alphas, 12, curve, 12, 1e-5, ERGON_DPK_CONVERSION_CLASSIC,
                                  &eps, &index));
  CHECK(check_close_to(eps, 7.469182310764411, 1e-9));
  /* compute_delta of dp-accounting: epsilon 5 and 10. */
  MUST(ergon_dpk_curve_dp_delta(alphas, 12, curve, 12, 5.0, ERGON_DPK_CONVERSION_TIGHT, &delta,
                                &index));
  CHECK(check_close_to(delta, 0.0013377167808450215, 1e-12) && alphas[index] == 3.0);
  printf("DP-SGD q=0.01 sigma=1 1e4 steps: delta %.17g at alpha %g for epsilon 5\n", delta,
         alphas[index]);
  MUST(ergon_dpk_curve_dp_delta(alphas, 12, curve, 12, 10.0, ERGON_DPK_CONVERSION_TIGHT,
                                &delta, &index));
  CHECK(check_close_to(delta, 4.8216374583033133e-11, 1e-20) && alphas[index] == 5.0);
  /* The classic rule never certifies a smaller delta. */
  double classic = 0.0;
  MUST(ergon_dpk_curve_dp_delta(alphas, 12, curve, 12, 10.0, ERGON_DPK_CONVERSION_CLASSIC,
                                &classic, &index));
  CHECK(classic >= delta);
}

/* The accounting helpers: dense grid, capacities by either rule, Laplace, composition,
 * Gaussian calibration both ways, eps -> delta; grids longer than a workload's 16 orders. */
static void accounting_helpers(const double *alphas /* the 12 standard orders */) {
  size_t len = 0, index = 99;
  MUST(ergon_dpk_alphas_dense(NULL, 0, &len));
  CHECK(len == 156);
  double dense[156];
  MUST(ergon_dpk_alphas_dense(dense, 156, &len));
  CHECK(len == 156 && check_close_to(dense[0], 1.1, 1e-12) &&
        check_close_to(dense[98], 10.9, 1e-12));
  CHECK(dense[99] == 11.0 && dense[151] == 63.0 && dense[152] == 128.0 &&
        dense[155] == 1024.0);
  double small[4] = {7.0, 7.0, 7.0, 7.0};
  EXPECT_FAIL(ERGON_STATUS_BUFFER_TOO_SMALL, "too small",
              ergon_dpk_alphas_dense(small, 4, &len));
  CHECK(len == 156 && small[0] == 7.0 && small[3] == 7.0);

  /* Capacities on the 156-order grid: the closed forms; tight >= classic at every order. */
  static double classic[156], tight[156];
  MUST(ergon_dpk_block_capacity_with(dense, 156, 3.0, 1e-6, ERGON_DPK_CONVERSION_CLASSIC,
                                     classic, 156, &len));
  CHECK(len == 156);
  MUST(ergon_dpk_block_capacity_with(dense, 156, 3.0, 1e-6, ERGON_DPK_CONVERSION_TIGHT, tight,
                                     156, &len));
  CHECK(len == 156);
  int tight_ok = 1, closed_ok = 1, strictly = 0;
  for (int i = 0; i < 156; i++) {
    double a = dense[i];
    double want_c = fmax(3.0 - log(1e6) / (a - 1.0), 0.0);
    double want_t = a > 1.01
                        ? fmax(3.0 - (log1p(-1.0 / a) - (log(1e-6) + log(a)) / (a - 1.0)), 0.0)
                        : want_c;
    closed_ok &=
        check_close_to(classic[i], want_c, 1e-12) && check_close_to(tight[i], want_t, 1e-12);
    tight_ok &= tight[i] >= classic[i];
    strictly |= tight[i] > classic[i];
  }
  CHECK(closed_ok);
  CHECK(tight_ok && strictly);

  /* Laplace on a 20-order grid (more than 16): the closed form of Mironov 2017. */
  double grid[20], lap[20], slap[20], gauss[20];
  for (int i = 0; i < 20; i++) {
    grid[i] = 1.5 + i;
  }
  MUST(ergon_dpk_curve_laplace(grid, 20, 2.0, lap, 20, &len));
  CHECK(len == 20);
  int lap_ok = 1;
  for (int i = 0; i < 20; i++) {
    double a = grid[i], b = 2.0, w = 2.0 * a - 1.0;
    double want =
        log((a / w) * exp((a - 1.0) / b) + ((a - 1.0) / w) * exp(-a / b)) / (a - 1.0);
    lap_ok &= check_close_to(lap[i], want, 1e-12) && lap[i] <= 0.5 + 1e-15;
  }
  CHECK(lap_ok);
  MUST(ergon_dpk_curve_subsampled_laplace(grid, 20, 1.0, 2.0, 3.0, slap, 20, &len));
  CHECK(len == 20 && check_close_to(slap[7], 3.0 * lap[7], 1e-12));
  MUST(ergon_dpk_curve_subsampled_laplace(grid, 20, 0.01, 2.0, 3.0, slap, 20, &len));
  CHECK(slap[0] > 0.0 && slap[0] < 3.0 * lap[0] && slap[19] < 3.0 * lap[19]);

  /* Composition: 2 Laplace + 3.5 Gaussian, order by order; NULL counts = one each. */
  MUST(ergon_dpk_curve_gaussian(grid, 20, 4.0, gauss, 20, &len));
  double rows[40], composed[20], once[20];
  memcpy(rows, lap, sizeof lap);
  memcpy(rows + 20, gauss, sizeof gauss);
  const double counts[2] = {2.0, 3.5};
  MUST(ergon_dpk_curve_compose(rows, 2, 20, counts, composed, 20, &len));
  CHECK(len == 20);
  MUST(ergon_dpk_curve_compose(rows, 2, 20, NULL, once, 20, &len));
  int sum_ok = 1;
  for (int i = 0; i < 20; i++) {
    sum_ok &= check_close_to(composed[i], 2.0 * lap[i] + 3.5 * gauss[i], 1e-12) &&
              check_close_to(once[i], lap[i] + gauss[i], 1e-12);
  }
  CHECK(sum_ok);

  /* The analytic Gaussian calibration (dp_accounting.get_sigma_gaussian) and its profile. */
  static const double calib[3][3] = {
      {1.0, 1e-5, 3.7306316348159414},
      {10.0, 1e-5, 0.4998886197090085},
      {0.5, 1e-6, 8.057618480725047},
  };
  for (int i = 0; i < 3; i++) {
    double sigma = 0.0, back = 0.0;
    MUST(ergon_dpk_gaussian_sigma(calib[i][0], calib[i][1], &sigma));
    CHECK(check_close_to(sigma, calib[i][2], 1e-9 * calib[i][2]));
    MUST(ergon_dpk_gaussian_delta(sigma, calib[i][0], &back));
    CHECK(back <= calib[i][1] * (1.0 + 1e-9) && back >= calib[i][1] * (1.0 - 1e-6));
    printf("analytic sigma(%g, %g) = %.17g; its delta %.6g\n", calib[i][0], calib[i][1], sigma,
           back);
  }
  double sigma = 0.0;
  MUST(ergon_dpk_gaussian_sigma_classic(0.5, 1e-6, &sigma));
  CHECK(check_close_to(sigma, 10.5976050537, 1e-9));
  CHECK(check_close_to(sigma, sqrt(2.0 * log(1.25e6)) / 0.5, 1e-12));
  double untouched = -3.0;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "epsilon < 1",
              ergon_dpk_gaussian_sigma_classic(1.0, 1e-5, &untouched));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "epsilon < 1",
              ergon_dpk_gaussian_sigma_classic(8.0, 1e-5, &untouched));
  CHECK(untouched == -3.0);

  dpsgd_oracles(alphas);

  /* The tight rule is clamped at 0: a zero curve at delta 0.5 gives 0, not a negative. */
  static const double zeros[156];
  double eps = -1.0;
  MUST(ergon_dpk_curve_dp_epsilon(dense, 156, zeros, 156, 0.5, ERGON_DPK_CONVERSION_TIGHT,
                                  &eps, &index));
  CHECK(eps == 0.0 && index < 156);

  /* Bad input: unknown conversion, NULL pointers; outputs untouched. */
  double out[2] = {9.0, 9.0}, d = -1.0;
  size_t i_out = 99;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "conversion 7",
              ergon_dpk_block_capacity_with(alphas, 12, 1.0, 1e-5, 7, classic, 156, &len));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "conversion 7",
              ergon_dpk_curve_dp_delta(alphas, 2, zeros, 2, 1.0, 7, &d, &i_out));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "delta",
              ergon_dpk_curve_dp_delta(alphas, 2, zeros, 2, 1.0, ERGON_DPK_CONVERSION_TIGHT,
                                       NULL, &i_out));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "curve",
              ergon_dpk_curve_dp_delta(alphas, 2, NULL, 2, 1.0, ERGON_DPK_CONVERSION_TIGHT, &d,
                                       &i_out));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "epsilon",
              ergon_dpk_curve_dp_delta(alphas, 2, zeros, 2, -1.0, ERGON_DPK_CONVERSION_TIGHT,
                                       &d, &i_out));
  CHECK(d == -1.0 && i_out == 99);
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "curves",
              ergon_dpk_curve_compose(NULL, 2, 2, NULL, out, 2, &len));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "num_alphas",
              ergon_dpk_curve_compose(rows, 2, 0, NULL, out, 2, &len));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "alphas",
              ergon_dpk_curve_laplace(NULL, 2, 1.0, out, 2, &len));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "b",
              ergon_dpk_curve_laplace(alphas, 2, -1.0, out, 2, &len));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "delta", ergon_dpk_gaussian_delta(1.0, 1.0, NULL));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "sigma", ergon_dpk_gaussian_sigma(1.0, 1e-5, NULL));
  CHECK(out[0] == 9.0 && out[1] == 9.0);
}

/* ---------------------------------------------------------------------- online */

static const char ONLINE_JSON[] =
    "{\"schema\": \"dpk-online/v1\", \"alphas\": [2, 4], \"block_epsilon\": 10,"
    " \"block_delta\": 1e-5, \"initial_blocks\": 1, \"total_blocks\": 4,"
    " \"scheduling_period\": 1, \"unlocking\": {\"kind\": \"time\", \"period\": 1,"
    " \"steps\": 2}, \"tasks\": ["
    "  {\"id\": 0, \"arrival\": 0, \"num_blocks\": 1, \"demand\": [0.05, 2.5]},"
    "  {\"id\": 1, \"arrival\": 0.5, \"num_blocks\": 2, \"demand\": [0.05, 2.5]},"
    "  {\"id\": 2, \"arrival\": 1, \"num_blocks\": 1, \"demand\": [0.05, 2.5]},"
    "  {\"id\": 3, \"arrival\": 1.5, \"num_blocks\": 2, \"demand\": [0.05, 2.5]}]}";

static void online(void) {
  ergon_dpk_online *h = NULL;
  MUST(ergon_dpk_online_run_json(ONLINE_JSON, sizeof ONLINE_JSON - 1, NULL, &h));
  ergon_dpk_online_info info;
  MUST(ergon_dpk_online_summary(h, &info));
  CHECK(info.scheduler == ERGON_DPK_SCHEDULER_DPK && info.num_submitted == 4);
  CHECK(info.num_allocated > 0 && info.num_allocated <= 4 && info.num_rounds > 0);
  size_t len = 0;
  MUST(ergon_dpk_online_allocated(h, NULL, 0, &len));
  CHECK(len == info.num_allocated);
  /* By hand: block 0 is half unlocked at t = 1 (task 0), full at t = 2 (task 1); block 1 half
   * unlocked at t = 2 (task 2); task 3 needs blocks 0 and 1, and block 0 keeps only 1.16. */
  uint64_t ids[4] = {9, 9, 9, 9};
  MUST(ergon_dpk_online_allocated(h, ids, 4, &len));
  CHECK(len == 3 && ids[0] == 0 && ids[1] + ids[2] == 3 && ids[3] == 9);
  char *json = NULL;
  MUST_TEXT(ergon_dpk_online_to_json, h, json);
  CHECK(strstr(json, "\"schema\":\"dpk-online-result/v1\"") != NULL);
  printf("online: %zu of %zu tasks allocated in %zu rounds\n", info.num_allocated,
         info.num_submitted, info.num_rounds);
  free(json);
  ergon_dpk_online_free(h);
  ergon_dpk_options o = ergon_dpk_options_default();
  o.scheduler = ERGON_DPK_SCHEDULER_OPTIMAL;
  h = NULL;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "offline only",
              ergon_dpk_online_run_json(ONLINE_JSON, sizeof ONLINE_JSON - 1, &o, &h));
  CHECK(h == NULL);
}

/* ---------------------------------------------------------------------- bad input */

/* The O4 instance with one `change` must be refused by ergon_dpk_workload_new with `want`
 * and a message containing `part`. */
#define REFUSES(change, want, part)                                                           \
  EXPECT_FAIL_AFTER(o4_init(&x), change, want, part, ergon_dpk_workload_new(&x.problem, &w))

static void bad_input(void) {
  o4 x;
  ergon_dpk_workload *sentinel = (ergon_dpk_workload *)(void *)&x; /* must stay untouched */
  ergon_dpk_workload *w = sentinel;

  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "problem", ergon_dpk_workload_new(NULL, &w));
  o4_init(&x);
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "out", ergon_dpk_workload_new(&x.problem, NULL));
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "json", ergon_dpk_workload_from_json(NULL, 4, &w));

  REFUSES(x.demand[3][1] = NAN, ERGON_STATUS_INVALID_PROBLEM, "task 3");
  REFUSES(x.demand[2][0] = -1.0, ERGON_STATUS_INVALID_PROBLEM, "task 2");
  REFUSES(x.requested[4][0] = 9, ERGON_STATUS_INVALID_PROBLEM, "task 4 requests block 9");
  REFUSES((x.blocks[0].capacity = NULL, x.blocks[0].capacity_len = 0,
           x.blocks[0].epsilon = 10.0, x.blocks[0].delta = 1.0),
          ERGON_STATUS_INVALID_PROBLEM, "block 0");
  REFUSES(x.problem.num_alphas = 0, ERGON_STATUS_INVALID_PROBLEM, "empty");
  REFUSES(x.tasks[5].demand = NULL, ERGON_STATUS_NULL_POINTER, "task 5");
  static const char wrong_schema[] = "{\"schema\": \"dpk-online/v1\"}";
  EXPECT_FAIL(ERGON_STATUS_SCHEMA, "dpk-workload/v1",
              ergon_dpk_workload_from_json(wrong_schema, sizeof wrong_schema - 1, &w));
  EXPECT_FAIL(ERGON_STATUS_PARSE, NULL, ergon_dpk_workload_from_json("{", 1, &w));
  CHECK(w == sentinel);

  o4_init(&x);
  w = NULL;
  MUST(ergon_dpk_workload_new(&x.problem, &w));
  ergon_dpk_options o = ergon_dpk_options_default();
  o.scheduler = 42;
  ergon_dpk_result *r = NULL;
  /* The workload's own message is the thread's. */
  EXPECT_FAIL_ON(w, ERGON_STATUS_INVALID_ARGUMENT, "unknown scheduler 42",
                 ergon_dpk_workload_schedule(w, &o, &r));
  CHECK(r == NULL);
  size_t len = 0;
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "NULL", ergon_dpk_workload_schedule(NULL, NULL, &r));

  MUST(ergon_dpk_workload_schedule(w, NULL, &r));
  ergon_dpk_workload_info wi;
  EXPECT_FAIL(ERGON_STATUS_NULL_POINTER, "not a live DPK workload handle",
              ergon_dpk_workload_summary((const ergon_dpk_workload *)(const void *)r, &wi));
  uint64_t one = 77;
  EXPECT_FAIL(ERGON_STATUS_BUFFER_TOO_SMALL, "too small",
              ergon_dpk_result_allocated(r, &one, 1, &len));
  CHECK(len == 2 && one == 77);
  char small[4] = "abc";
  EXPECT_FAIL(ERGON_STATUS_BUFFER_TOO_SMALL, "too small",
              ergon_dpk_result_to_json(r, small, sizeof small, &len));
  CHECK(len > 4 && strcmp(small, "abc") == 0);
  ergon_dpk_result_free(r);
  ergon_dpk_workload_free(w);
  ergon_dpk_workload_free(NULL);
  ergon_dpk_result_free(NULL);
}

/* Every scheduler's name and back; an unknown name's message lists the accepted ones. */
static void scheduler_names(void) {
  static const char *const NAMES[] = {"dpk", "dpf", "fcfs", "area", "optimal"};
  static const uint32_t CODES[] = {ERGON_DPK_SCHEDULER_DPK, ERGON_DPK_SCHEDULER_DPF,
                                   ERGON_DPK_SCHEDULER_FCFS, ERGON_DPK_SCHEDULER_AREA,
                                   ERGON_DPK_SCHEDULER_OPTIMAL};
  for (size_t i = 0; i < sizeof CODES / sizeof CODES[0]; i++) {
    size_t len = 0;
    MUST(ergon_dpk_scheduler_name(CODES[i], NULL, 0, &len));
    char *name = check_alloc(len + 1);
    MUST(ergon_dpk_scheduler_name(CODES[i], name, len + 1, &len));
    CHECK(len == strlen(NAMES[i]) && strcmp(name, NAMES[i]) == 0);
    uint32_t code = 99;
    MUST(ergon_dpk_scheduler_parse(name, len, &code));
    CHECK(code == CODES[i]);
    free(name);
  }
  uint32_t code = 99;
  size_t len = 0;
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT,
              "unknown scheduler \"greedy\" (expected dpk, dpf, fcfs, area or optimal)",
              ergon_dpk_scheduler_parse(TEXT("greedy"), &code));
  EXPECT_FAIL(ERGON_STATUS_INVALID_ARGUMENT, "unknown scheduler 5",
              ergon_dpk_scheduler_name(5, NULL, 0, &len));
  CHECK(code == 99 && len == 0);
}

int main(void) {
  o4 x;
  o4_init(&x);
  ergon_dpk_workload *arrays = NULL, *json = NULL;
  MUST(ergon_dpk_workload_new(&x.problem, &arrays));
  check_o4(arrays, "arrays");
  MUST(ergon_dpk_workload_from_json(O4_JSON, sizeof O4_JSON - 1, &json));
  check_o4(json, "json");
  ergon_dpk_workload_free(arrays);
  ergon_dpk_workload_free(json);
  rdp_helpers();
  double alphas[12];
  size_t len = 0;
  MUST(ergon_dpk_alphas_standard(alphas, 12, &len));
  accounting_helpers(alphas);
  online();
  bad_input();
  scheduler_names();
  return check_finish();
}
