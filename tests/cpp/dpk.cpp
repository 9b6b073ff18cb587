// dpk.cpp: the DPK classes of bindings/cpp/ergon.hpp (ergon::DpkWorkload, ergon::DpkResult,
// ergon::dpk helpers), with no direct call of a fallible C function: Cohere's 3-order instance
// (oracle O4) from arrays and from dpk-workload/v1 gives DPK {6, 5} with profit 310 and
// remaining [-0.35, -0.30, 0.35], FCFS {0, 1}, unweighted DPF {2, 4}; failures are ergon::Error
// with their status and a message naming the task or block; handles are move-only RAII.
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

#include "ergon.hpp"

static_assert(!std::is_copy_constructible_v<ergon::DpkWorkload>, "DpkWorkload is move-only");
static_assert(std::is_nothrow_move_constructible_v<ergon::DpkWorkload>, "noexcept move");
static_assert(!std::is_copy_constructible_v<ergon::DpkResult>, "DpkResult is move-only");
static_assert(std::is_nothrow_move_assignable_v<ergon::DpkResult>, "noexcept move");

namespace {

int failures = 0;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::cerr << __FILE__ << ":" << __LINE__ << ": check failed: " #cond "\n";              \
      failures++;                                                                             \
    }                                                                                         \
  } while (0)

// `body` must throw ergon::Error with `want` and a message containing `needle`.
template <class Body>
void expect_error(ergon_status want, const std::string &needle, Body body, int line) {
  try {
    body();
  } catch (const ergon::Error &e) {
    if (e.status() != want || std::string(e.what()).find(needle) == std::string::npos) {
      std::cerr << "dpk.cpp:" << line << ": status " << e.status() << " (expected " << want
                << "), message \"" << e.what() << "\" (expected to name \"" << needle
                << "\")\n";
      failures++;
    } else {
      std::cout << "  [" << ergon_status_str(e.status()) << "] " << e.what() << "\n";
    }
    return;
  }
  std::cerr << "dpk.cpp:" << line << ": no exception\n";
  failures++;
}
#define EXPECT_ERROR(want, needle, body) expect_error((want), (needle), [&] { body; }, __LINE__)

bool close_to(double a, double b, double tol) { return std::fabs(a - b) <= tol; }

std::vector<uint64_t> sorted(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Cohere's instance as arrays, owned.
struct O4 {
  std::vector<double> alphas{2.0, 3.0, 4.0};
  std::vector<double> capacity{1.05, 1.10, 1.15};
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
    blocks = {ergon_dpk_block{0, 0.0, 0.0, capacity.data(), capacity.size(), 0.0}};
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

void check_o4(const ergon::DpkWorkload &w, const char *how) {
  ergon_dpk_workload_info info = w.summary();
  CHECK(info.num_alphas == 3 && info.num_blocks == 1 && info.num_tasks == 7);
  CHECK(w.alphas() == (std::vector<double>{2.0, 3.0, 4.0}));

  ergon::DpkResult r = w.schedule();
  CHECK(r.allocated() == (std::vector<uint64_t>{6, 5}));
  ergon_dpk_result_info s = r.summary();
  CHECK(s.scheduler == ERGON_DPK_DPK && s.num_allocated == 2 && s.total_weight == 310.0);
  CHECK(std::isnan(s.upper_bound));
  std::vector<double> rem = r.remaining();
  CHECK(rem.size() == 3);
  CHECK(close_to(rem.at(0), -0.35, 1e-9) && close_to(rem.at(1), -0.30, 1e-9) &&
        close_to(rem.at(2), 0.35, 1e-9));
  CHECK(r.block_ids() == std::vector<uint64_t>{0});
  CHECK(r.to_json().find("\"allocated\":[6,5]") != std::string::npos);
  std::cout << how << ": DPK {6, 5} profit " << s.total_weight << "\n";

  CHECK(sorted(w.schedule(ERGON_DPK_FCFS).allocated()) == (std::vector<uint64_t>{0, 1}));
  ergon_dpk_options o = ergon_dpk_options_default();
  o.scheduler = ERGON_DPK_DPF;
  o.dpf_weighted = false;
  ergon::DpkResult dpf = w.schedule(o);
  CHECK(sorted(dpf.allocated()) == (std::vector<uint64_t>{2, 4}));
  CHECK(dpf.summary().total_weight == 260.0);
  ergon::DpkResult opt = w.schedule(ERGON_DPK_OPTIMAL);
  CHECK(opt.summary().upper_bound == 310.0 && opt.summary().proven_optimal);
}

} // namespace

int main() {
  O4 arrays;
  ergon::DpkWorkload a(arrays.problem());
  check_o4(a, "arrays");
  ergon::DpkWorkload j = ergon::DpkWorkload::from_json(O4_JSON);
  check_o4(j, "json");
  CHECK(a.to_json() == j.to_json());

  // Move-only RAII: a moved-from workload throws NULL_POINTER; a result outlives its workload.
  ergon::DpkResult kept = j.schedule();
  ergon::DpkWorkload moved = std::move(j);
  CHECK(!j && moved);
  EXPECT_ERROR(ERGON_STATUS_NULL_POINTER, "NULL", j.summary());
  moved = ergon::DpkWorkload(nullptr);
  CHECK(kept.summary().total_weight == 310.0);

  // Bad input, named.
  O4 bad;
  bad.demand[3][1] = NAN;
  bad.link();
  EXPECT_ERROR(ERGON_STATUS_INVALID_PROBLEM, "task 3", ergon::DpkWorkload w(bad.problem()));
  O4 missing;
  missing.requested = {7};
  missing.link();
  EXPECT_ERROR(ERGON_STATUS_INVALID_PROBLEM, "block 7", ergon::DpkWorkload w(missing.problem()));
  O4 budget;
  budget.capacity.clear();
  budget.link();
  budget.blocks[0].epsilon = 1.0;
  budget.blocks[0].delta = 2.0;
  EXPECT_ERROR(ERGON_STATUS_INVALID_PROBLEM, "block 0", ergon::DpkWorkload w(budget.problem()));
  O4 empty;
  empty.alphas.clear();
  empty.link();
  EXPECT_ERROR(ERGON_STATUS_INVALID_PROBLEM, "empty", ergon::DpkWorkload w(empty.problem()));
  EXPECT_ERROR(ERGON_STATUS_SCHEMA, "dpk-workload/v1",
               ergon::DpkWorkload::from_json(R"({"schema": "x"})"));
  EXPECT_ERROR(ERGON_STATUS_INVALID_ARGUMENT, "unknown scheduler 9", a.schedule(9));
  CHECK(a.last_error().find("unknown scheduler 9") != std::string::npos);

  // RDP helpers.
  std::vector<double> alphas = ergon::dpk::standard_alphas();
  CHECK(alphas.size() == 12 && alphas.front() == 1.5 && alphas.back() == 64.0);
  std::vector<double> cap = ergon::dpk::block_capacity(alphas, 10.0, 1e-7);
  CHECK(close_to(cap.at(4), 1.94, 0.005) && close_to(cap.at(11), 9.74, 0.005));
  ergon::dpk::Conversion c = ergon::dpk::dp_epsilon(alphas, cap, 1e-7);
  CHECK(close_to(c.epsilon, 10.0, 1e-9) && cap.at(c.alpha_index) > 0.0);
  std::vector<double> g = ergon::dpk::gaussian(alphas, 1.0);
  std::vector<double> sg = ergon::dpk::subsampled_gaussian(alphas, 1.0, 1.0, 2.0);
  CHECK(close_to(g.at(2), 1.0, 1e-15) && close_to(sg.at(2), 2.0, 1e-12));
  EXPECT_ERROR(ERGON_STATUS_INVALID_ARGUMENT, "delta",
               ergon::dpk::block_capacity(alphas, 10.0, 1.0));
  EXPECT_ERROR(ERGON_STATUS_INVALID_ARGUMENT, "sigma", ergon::dpk::gaussian(alphas, -1.0));

  if (failures > 0) {
    std::cerr << failures << " checks failed\n";
    return 1;
  }
  std::cout << "all checks passed\n";
  return 0;
}
