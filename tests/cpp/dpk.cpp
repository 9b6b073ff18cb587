// dpk.cpp: the DPK classes of bindings/cpp/ergon.hpp (Workload, Result,
// ergon::dpk helpers), with no direct call of a fallible C function: Cohere's 3-order instance
// (oracle O4) from arrays and from dpk-workload/v1 gives DPK {6, 5} with profit 310 and
// remaining [-0.35, -0.30, 0.35], FCFS {0, 1}, unweighted DPF {2, 4}; failures are
// ergon::Error with their status and a message naming the task or block; handles are move-only
// RAII. The accounting helpers (dense grid, capacities by either conversion, Laplace,
// composition, analytic and classic Gaussian calibration, epsilon <-> delta) meet
// dp-accounting's values and their closed forms on grids longer than a workload's 16 orders.
//
// Usage: dpk (no arguments). Prints "all checks passed" and exits 0 when every check holds.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "check.hpp"
#include "ergon.hpp"

using ergon::dpk::Result;
using ergon::dpk::Workload;

static_assert(is_move_only_v<Workload>, "Workload is move-only");
static_assert(is_move_only_v<Result>, "Result is move-only");

namespace {

std::vector<uint64_t> sorted(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Cohere's instance as arrays, owned.
struct O4 {
  std::vector<double> alphas{2.0, 3.0, 4.0};
  std::vector<double> capacity{1.05, 1.10, 1.15};
  double epsilon = 0.0, delta = 0.0; // the global budget, used where capacity is empty
  std::vector<std::vector<double>> demand;
  std::vector<uint64_t> requested{0};
  std::vector<ergon_dpk_block> blocks;
  std::vector<ergon_dpk_task> tasks;

  O4() {
    const double r[3][3] = {{1.0, 0.4, 0.4}, {0.4, 1.0, 0.4}, {0.4, 0.4, 1.0}};
    const int which[7] = {0, 0, 1, 1, 2, 1, 0};
    for (int i = 0; i < 7; ++i) {
      demand.emplace_back(r[which[i]], r[which[i]] + 3);
    }
    link();
  }

  void link() {
    blocks = {ergon_dpk_block{0, epsilon, delta, capacity.data(), capacity.size(), 0.0}};
    tasks.clear();
    for (size_t i = 0; i < demand.size(); ++i) {
      tasks.push_back(ergon_dpk_task{i, 100.0 + 10.0 * static_cast<double>(i), 0.0,
                                     requested.data(), requested.size(), demand[i].data(),
                                     demand[i].size()});
    }
  }

  ergon_dpk_problem problem() const {
    return ergon_dpk_problem{alphas.data(), alphas.size(), blocks.data(),
                             blocks.size(), tasks.data(),  tasks.size()};
  }
};

const char *const O4_JSON = R"({"schema": "dpk-workload/v1", "alphas": [2, 3, 4],
  "blocks": [{"id": 0, "capacity": [1.05, 1.10, 1.15]}],
  "tasks": [
    {"id": 0, "weight": 100, "blocks": [0], "demand": [1, 0.4, 0.4]},
    {"id": 1, "weight": 110, "blocks": [0], "demand": [1, 0.4, 0.4]},
    {"id": 2, "weight": 120, "blocks": [0], "demand": [0.4, 1, 0.4]},
    {"id": 3, "weight": 130, "blocks": [0], "demand": [0.4, 1, 0.4]},
    {"id": 4, "weight": 140, "blocks": [0], "demand": [0.4, 0.4, 1]},
    {"id": 5, "weight": 150, "blocks": [0], "demand": [0.4, 1, 0.4]},
    {"id": 6, "weight": 160, "blocks": [0], "demand": [1, 0.4, 0.4]}]})";

void check_o4(const Workload &w, const char *how) {
  ergon_dpk_workload_info info = w.summary();
  CHECK(info.num_alphas == 3 && info.num_blocks == 1 && info.num_tasks == 7);
  CHECK(w.alphas() == (std::vector<double>{2.0, 3.0, 4.0}));

  Result r = w.schedule();
  CHECK(r.allocated() == (std::vector<uint64_t>{6, 5}));
  ergon_dpk_result_info s = r.summary();
  CHECK(s.scheduler == ERGON_DPK_SCHEDULER_DPK && s.num_allocated == 2 &&
        s.total_weight == 310.0);
  CHECK(std::isnan(s.upper_bound));
  std::vector<double> rem = r.remaining();
  CHECK(rem.size() == 3);
  CHECK(check_close_to(rem.at(0), -0.35, 1e-9) && check_close_to(rem.at(1), -0.30, 1e-9) &&
        check_close_to(rem.at(2), 0.35, 1e-9));
  CHECK(r.block_ids() == std::vector<uint64_t>{0});
  CHECK(r.to_json().find("\"allocated\":[6,5]") != std::string::npos);
  std::cout << how << ": DPK {6, 5} profit " << s.total_weight << "\n";

  CHECK(sorted(w.schedule(ERGON_DPK_SCHEDULER_FCFS).allocated()) ==
        (std::vector<uint64_t>{0, 1}));
  ergon_dpk_options o = ergon_dpk_options_default();
  o.scheduler = ERGON_DPK_SCHEDULER_DPF;
  o.dpf_weighted = false;
  Result dpf = w.schedule(o);
  CHECK(sorted(dpf.allocated()) == (std::vector<uint64_t>{2, 4}));
  CHECK(dpf.summary().total_weight == 260.0);
  Result opt = w.schedule(ERGON_DPK_SCHEDULER_OPTIMAL);
  CHECK(opt.summary().upper_bound == 310.0 && opt.summary().proven_optimal);
}

} // namespace

int main() {
  return check_main([] {
    O4 arrays;
    Workload a(arrays.problem());
    check_o4(a, "arrays");
    Workload j = Workload::from_json(O4_JSON);
    check_o4(j, "json");
    CHECK(a.to_json() == j.to_json());

    // Move-only RAII: a moved-from workload throws NULL_POINTER; a result outlives its
    // workload.
    Result kept = j.schedule();
    Workload moved = std::move(j);
    CHECK(!j && moved);
    THROWS(ERGON_STATUS_NULL_POINTER, "NULL", j.summary());
    moved = Workload(nullptr);
    CHECK(kept.summary().total_weight == 310.0);

    // Bad input, named: the O4 instance with one change.
    const struct {
      void (*change)(O4 &);
      const char *part;
    } bad_instances[] = {
        {[](O4 &x) { x.demand[3][1] = NAN; }, "task 3"},
        {[](O4 &x) { x.requested = {7}; }, "block 7"},
        {[](O4 &x) { x.capacity.clear(), x.epsilon = 1.0, x.delta = 2.0; }, "block 0"},
        {[](O4 &x) { x.alphas.clear(); }, "empty"},
    };
    for (const auto &bad : bad_instances) {
      O4 x;
      bad.change(x);
      x.link();
      THROWS(ERGON_STATUS_INVALID_PROBLEM, bad.part, Workload w(x.problem()));
    }
    THROWS(ERGON_STATUS_SCHEMA, "dpk-workload/v1", Workload::from_json(R"({"schema": "x"})"));
    const std::string what =
        THROWS(ERGON_STATUS_INVALID_ARGUMENT, "unknown scheduler 9", a.schedule(9));
    CHECK(a.last_error() == what); // the workload's own message

    // RDP helpers.
    std::vector<double> alphas = ergon::dpk::standard_alphas();
    CHECK(alphas.size() == 12 && alphas.front() == 1.5 && alphas.back() == 64.0);
    std::vector<double> cap = ergon::dpk::block_capacity(alphas, 10.0, 1e-7);
    CHECK(check_close_to(cap.at(4), 1.94, 0.005) && check_close_to(cap.at(11), 9.74, 0.005));
    ergon::dpk::Conversion c = ergon::dpk::dp_epsilon(alphas, cap, 1e-7);
    CHECK(check_close_to(c.epsilon, 10.0, 1e-9) && cap.at(c.alpha_index) > 0.0);
    std::vector<double> g = ergon::dpk::gaussian(alphas, 1.0);
    std::vector<double> sg = ergon::dpk::subsampled_gaussian(alphas, 1.0, 1.0, 2.0);
    CHECK(check_close_to(g.at(2), 1.0, 1e-15) && check_close_to(sg.at(2), 2.0, 1e-12));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "delta",
           ergon::dpk::block_capacity(alphas, 10.0, 1.0));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "sigma", ergon::dpk::gaussian(alphas, -1.0));

    // Accounting helpers: dp-accounting's dense grid (156 orders, more than a workload's 16).
    std::vector<double> dense = ergon::dpk::dense_alphas();
    CHECK(dense.size() == 156 && check_close_to(dense.front(), 1.1, 1e-12) &&
          dense.back() == 1024.0);
    CHECK(check_close_to(dense.at(98), 10.9, 1e-12) && dense.at(99) == 11.0 &&
          dense.at(152) == 128.0);
    std::vector<double> classic = ergon::dpk::block_capacity(dense, 3.0, 1e-6);
    std::vector<double> classic2 =
        ergon::dpk::block_capacity(dense, 3.0, 1e-6, ERGON_DPK_CONVERSION_CLASSIC);
    std::vector<double> tight =
        ergon::dpk::block_capacity(dense, 3.0, 1e-6, ERGON_DPK_CONVERSION_TIGHT);
    CHECK(classic.size() == 156 && tight.size() == 156 && classic == classic2);
    bool tight_ok = true, strictly = false, closed_ok = true;
    for (size_t i = 0; i < dense.size(); ++i) {
      const double a = dense[i];
      const double want_c = std::max(3.0 - std::log(1e6) / (a - 1.0), 0.0);
      const double want_t = a > 1.01
                                ? std::max(3.0 - (std::log1p(-1.0 / a) -
                                                  (std::log(1e-6) + std::log(a)) / (a - 1.0)),
                                           0.0)
                                : want_c;
      closed_ok = closed_ok && check_close_to(classic[i], want_c, 1e-12) &&
                  check_close_to(tight[i], want_t, 1e-12);
      tight_ok = tight_ok && tight[i] >= classic[i];
      strictly = strictly || tight[i] > classic[i];
    }
    CHECK(closed_ok && tight_ok && strictly);
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "conversion 7",
           ergon::dpk::block_capacity(dense, 3.0, 1e-6, 7));

    // Laplace on a 20-order grid against its closed form; subsampled with q = 1 is steps times
    // it.
    std::vector<double> grid;
    for (int i = 0; i < 20; ++i) {
      grid.push_back(1.5 + i);
    }
    std::vector<double> lap = ergon::dpk::laplace(grid, 2.0);
    CHECK(lap.size() == 20);
    bool lap_ok = true;
    for (size_t i = 0; i < grid.size(); ++i) {
      const double a = grid[i], w = 2.0 * a - 1.0;
      const double want = std::log((a / w) * std::exp((a - 1.0) / 2.0) +
                                   ((a - 1.0) / w) * std::exp(-a / 2.0)) /
                          (a - 1.0);
      lap_ok = lap_ok && check_close_to(lap[i], want, 1e-12);
    }
    CHECK(lap_ok);
    std::vector<double> full = ergon::dpk::subsampled_laplace(grid, 1.0, 2.0, 3.0);
    std::vector<double> sampled = ergon::dpk::subsampled_laplace(grid, 0.01, 2.0, 3.0);
    CHECK(full.size() == 20 && check_close_to(full.at(5), 3.0 * lap.at(5), 1e-12));
    CHECK(sampled.at(0) > 0.0 && sampled.at(19) < full.at(19));

    // Composition is the weighted sum order by order.
    std::vector<double> g20 = ergon::dpk::gaussian(grid, 4.0);
    std::vector<double> composed = ergon::dpk::compose({lap, g20}, {2.0, 3.5});
    std::vector<double> once = ergon::dpk::compose({lap, g20});
    CHECK(composed.size() == 20 && once.size() == 20);
    bool sum_ok = true;
    for (size_t i = 0; i < 20; ++i) {
      sum_ok = sum_ok && check_close_to(composed[i], 2.0 * lap[i] + 3.5 * g20[i], 1e-12) &&
               check_close_to(once[i], lap[i] + g20[i], 1e-12);
    }
    CHECK(sum_ok);
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "curve 1 has 12 values",
           ergon::dpk::compose({lap, alphas}));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "1 counts for 2 curves",
           ergon::dpk::compose({lap, g20}, {1.0}));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "num_alphas", ergon::dpk::compose({}));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "count", ergon::dpk::compose({lap}, {-1.0}));

    // The analytic Gaussian calibration (dp_accounting.get_sigma_gaussian) and its profile.
    const double calib[3][3] = {
        {1.0, 1e-5, 3.7306316348159414},
        {10.0, 1e-5, 0.4998886197090085},
        {0.5, 1e-6, 8.057618480725047},
    };
    for (const auto &row : calib) {
      const double sigma = ergon::dpk::gaussian_sigma(row[0], row[1]);
      CHECK(check_close_to(sigma, row[2], 1e-9 * row[2]));
      const double back = ergon::dpk::gaussian_delta(sigma, row[0]);
      CHECK(back <= row[1] * (1.0 + 1e-9) && back >= row[1] * (1.0 - 1e-6));
    }
    const double classic_sigma = ergon::dpk::gaussian_sigma_classic(0.5, 1e-6);
    CHECK(check_close_to(classic_sigma, 10.5976050537, 1e-9));
    CHECK(check_close_to(classic_sigma, std::sqrt(2.0 * std::log(1.25e6)) / 0.5, 1e-12));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "epsilon < 1",
           ergon::dpk::gaussian_sigma_classic(1.0, 1e-5));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "delta", ergon::dpk::gaussian_sigma(1.0, 0.0));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "sigma", ergon::dpk::gaussian_delta(0.0, 1.0));

    // dp-accounting's compute_epsilon / compute_delta on DP-SGD (q 0.01, sigma 1, 1e4 steps).
    std::vector<double> job = ergon::dpk::subsampled_gaussian(alphas, 0.01, 1.0, 1e4);
    ergon::dpk::Conversion te =
        ergon::dpk::dp_epsilon(alphas, job, 1e-5, ERGON_DPK_CONVERSION_TIGHT);
    CHECK(check_close_to(te.epsilon, 6.7194021179393335, 1e-9) &&
          alphas.at(te.alpha_index) == 4.0);
    CHECK(check_close_to(ergon::dpk::dp_epsilon(alphas, job, 1e-5).epsilon, 7.469182310764411,
                         1e-9));
    ergon::dpk::DeltaConversion d5 =
        ergon::dpk::dp_delta(alphas, job, 5.0, ERGON_DPK_CONVERSION_TIGHT);
    CHECK(check_close_to(d5.delta, 0.0013377167808450215, 1e-12) &&
          alphas.at(d5.alpha_index) == 3.0);
    ergon::dpk::DeltaConversion d10 =
        ergon::dpk::dp_delta(alphas, job, 10.0, ERGON_DPK_CONVERSION_TIGHT);
    CHECK(check_close_to(d10.delta, 4.8216374583033133e-11, 1e-20) &&
          alphas.at(d10.alpha_index) == 5.0);
    CHECK(ergon::dpk::dp_delta(alphas, job, 10.0).delta >= d10.delta);
    std::cout << "DP-SGD: tight epsilon " << te.epsilon << " at delta 1e-5, delta " << d5.delta
              << " at epsilon 5\n";
    // The tight rule is clamped at 0 (a zero curve at delta 0.5), on 156 orders.
    ergon::dpk::Conversion zero = ergon::dpk::dp_epsilon(
        dense, std::vector<double>(dense.size(), 0.0), 0.5, ERGON_DPK_CONVERSION_TIGHT);
    CHECK(zero.epsilon == 0.0 && zero.alpha_index < dense.size());
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "conversion 7",
           ergon::dpk::dp_delta(alphas, job, 1.0, 7));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "epsilon",
           ergon::dpk::dp_delta(alphas, job, -1.0, ERGON_DPK_CONVERSION_TIGHT));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "4096",
           ergon::dpk::gaussian(std::vector<double>(4097, 2.0), 1.0));
  });
}
