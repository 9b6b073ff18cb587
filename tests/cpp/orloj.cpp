// batcher.cpp: Batcher (bindings/cpp/ergon.hpp) in a small server loop, with no direct
// call of the C functions: the reference notes' score oracle (Orloj runs {r2, r1}, and after
// dropping r2 with p_min = 0.6 the notes' argmax {r1, r3}); a loop of arrivals, decisions
// into one reused Decision and completions fed back, which accounts for every request once;
// failures as ergon::Error with their status; move-only RAII; a batcher from an orloj-sim/v1
// document; the simulator's JSON.
//
// Usage: orloj   (no arguments)

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "check.hpp"
#include "ergon.hpp"

using ergon::orloj::App;
using ergon::orloj::Batcher;
using ergon::orloj::Decision;

static_assert(is_move_only_v<Batcher>, "Batcher is move-only");

namespace {

constexpr double MS = 1e-3;

Batcher oracle_batcher(double p_min) {
  ergon_orloj_batcher_options o = ergon_orloj_batcher_options_default();
  o.p_min = p_min;
  o.grid_span_s = 63 * MS; // a 1 ms grid
  o.bins = 64;
  return Batcher(
      {App::bimodal("A", 0.1, 10 * MS, 30 * MS, 0.5), App::constant("B", 0.1, 20 * MS)}, 8, {},
      o);
}

void oracle() {
  for (double p_min : {0.05, 0.6}) {
    Batcher b = oracle_batcher(p_min);
    b.enqueue(0, 1, 0.0, 35 * MS);
    b.enqueue(0, 2, 0.0, 12 * MS);
    b.enqueue(1, 3, 0.0, 25 * MS);
    Decision d = b.next_batch(0.0);
    CHECK(std::fabs(d.expected_time_s - 25 * MS) < 1e-12);
    if (p_min < 0.5) {
      CHECK((d.batch == std::vector<uint64_t>{2, 1}));
      CHECK(d.dropped.empty());
      CHECK(b.queued() == 1);
    } else {
      CHECK((d.dropped == std::vector<uint64_t>{2}));
      CHECK((d.batch == std::vector<uint64_t>{1, 3}));
      CHECK(b.queued() == 0);
    }
  }
  std::cout << "oracle: ok\n";
}

// Requests of two apps every 4 ms; one batch at a time taking s(b) times its slowest member.
void server_loop() {
  const std::vector<double> scale = {1.0, 1.1, 1.2, 1.3};
  Batcher b({App::lognormal("small", 40 * MS, 6 * MS, 0.5),
             App::constant("large", 60 * MS, 15 * MS)},
            4, scale);
  CHECK(b.policy_name() == "orloj");
  CHECK(b.max_batch_size() == 4 && b.num_apps() == 2);
  const size_t requests = 200;
  std::vector<int> seen(requests, 0);
  Decision d; // reused: its vectors keep their capacity
  size_t next = 0, batches = 0, finished = 0, late = 0, gone = 0;
  double now = 0.0;
  auto arrival = [](size_t id) { return static_cast<double>(id) * 4 * MS; };
  auto true_time = [](size_t id) { return id % 2 == 0 ? 6 * MS : 15 * MS; };
  for (;;) {
    while (next < requests && arrival(next) <= now + 1e-12) {
      b.enqueue(next % 2, next, arrival(next)); // deadline = arrival + SLO
      next++;
    }
    if (b.queued() == 0) {
      if (next == requests) {
        break;
      }
      now = arrival(next);
      continue;
    }
    b.next_batch(now, d);
    for (uint64_t id : d.dropped) {
      CHECK(id < requests && seen[id] == 0);
      seen[id % requests]++;
      gone++;
    }
    if (d.batch.empty()) {
      if (next == requests) {
        break;
      }
      now = arrival(next);
      continue;
    }
    CHECK(d.batch.size() <= 4 && d.expected_time_s > 0.0);
    double slowest = 0.0;
    for (uint64_t id : d.batch) {
      slowest = std::max(slowest, true_time(id));
    }
    const double took = scale[d.batch.size() - 1] * slowest;
    now += took;
    for (uint64_t id : d.batch) {
      CHECK(id < requests && seen[id] == 0);
      seen[id % requests]++;
      const double deadline = arrival(id) + (id % 2 == 0 ? 40 : 60) * MS;
      (now <= deadline + 1e-12 ? finished : late)++;
      b.complete(id % 2, true_time(id));
    }
    b.batch_done(took);
    batches++;
  }
  const size_t left = b.queued();
  CHECK(finished + late + gone + left == requests);
  CHECK(finished > requests / 2);
  const ergon_orloj_app_stats s = b.app_stats(1);
  CHECK(s.completions > 0 && std::fabs(s.mean_s - 15 * MS) < 1e-3);
  CHECK(std::fabs(s.slo_s - 60 * MS) < 1e-15);
  std::cout << "server loop: " << batches << " batches, " << finished << " finished, " << late
            << " late, " << gone << " dropped, " << left << " left\n";
}

void errors_and_ownership() {
  THROWS(ERGON_STATUS_INVALID_PROBLEM, "resnet",
         Batcher b({App::constant("resnet", 0.0, 10 * MS)}, 4));
  // An empty name: the library names the app by its index.
  THROWS(ERGON_STATUS_INVALID_PROBLEM, "app 0",
         Batcher b({App::constant("", 0.0, 10 * MS)}, 4));
  THROWS(ERGON_STATUS_INVALID_PROBLEM, "no applications", Batcher b({}, 4));
  THROWS(ERGON_STATUS_INVALID_PROBLEM, "scale factors",
         Batcher b({App::constant("x", 0.1, 0.01)}, 4, {1.0}));
  ergon_orloj_batcher_options o = ergon_orloj_batcher_options_default();
  o.policy = 99;
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "unknown policy 99",
         Batcher b({App::constant("x", 0.1, 0.01)}, 4, {}, o));
  Batcher b({App::samples("x", 0.1, {0.01, 0.02})}, 4);
  THROWS(ERGON_STATUS_OUT_OF_RANGE, "unknown app 7", b.enqueue(7, 1, 0.0));
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "arrival_s", b.enqueue(0, 1, std::nan(""), 1.0));
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "now_s", b.next_batch(std::nan("")));
  const std::string what =
      THROWS(ERGON_STATUS_INVALID_ARGUMENT, "observed_time_s", b.complete(0, -1.0));
  CHECK(what == b.last_error()); // the batcher's own message
  CHECK(what.find("ergon_orloj_batcher_complete") != std::string::npos);
  Batcher moved(std::move(b));
  CHECK(!b && moved);
  THROWS(ERGON_STATUS_NULL_POINTER, "NULL", (void)b.queued());
  CHECK(moved.queued() == 0);
  Batcher other({App::constant("y", 0.1, 0.01)}, 2);
  other = std::move(moved); // frees the other handle
  CHECK(other.max_batch_size() == 4);
  std::cout << "errors and ownership: ok\n";
}

const char *const SIM =
    R"({"schema": "orloj-sim/v1", "seed": 5, "duration_s": 0.5,
  "apps": [{"name": "ee", "share": 0.5, "slo_s": 0.04,
            "exec_time": {"kind": "bimodal", "low_s": 0.006, "high_s": 0.02, "p_low": 0.3}},
           {"name": "nlp", "share": 0.5, "slo_s": 0.06,
            "exec_time": {"kind": "lognormal", "mean_s": 0.03, "cv": 1.0}}],
  "batch": {"max_size": 4}, "arrivals": {"kind": "poisson", "load": 0.8},
  "policies": ["fifo", "orloj"]})";

void documents() {
  Batcher first = Batcher::from_json(SIM);
  CHECK(first.policy_name() == "fifo");
  CHECK(std::fabs(first.app_stats(1).slo_s - 0.06) < 1e-15);
  Batcher named = Batcher::from_json(SIM, "nexus-p99");
  CHECK(named.policy_name() == "nexus-p99");
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "sjf", Batcher::from_json(SIM, "sjf"));
  // The policy is a view: only its own bytes are read.
  const std::string_view edf = std::string_view("edf-p99 and more").substr(0, 7);
  CHECK(Batcher::from_json(SIM, edf).policy_name() == "edf-p99");
  THROWS(ERGON_STATUS_PARSE, "orloj-sim/v1", Batcher::from_json("{"));
  const std::string json = ergon::orloj::simulate_json(SIM);
  CHECK(json.find("\"schema\":\"orloj-result/v1\"") != std::string::npos);
  CHECK(json.find("\"policy\":\"fifo\"") != std::string::npos);
  CHECK(json == ergon::orloj::simulate_json(SIM)); // deterministic
  THROWS(ERGON_STATUS_SCHEMA, "orloj-sim/v1",
         ergon::orloj::simulate_json(R"({"schema": "x"})"));
  std::cout << "documents: ok\n";
}

// Names come from the library, both ways.
void names() {
  using ergon::orloj::Policy;
  CHECK(ergon::orloj::policy_name({ERGON_ORLOJ_POLICY_CLOCKWORK, ERGON_ORLOJ_ESTIMATE_P99}) ==
        "clockwork-p99");
  CHECK(ergon::orloj::policy_name({ERGON_ORLOJ_POLICY_CLIPPER, ERGON_ORLOJ_ESTIMATE_P99}) ==
        "clipper");
  const Policy nexus = ergon::orloj::policy_code("nexus-p99");
  CHECK(nexus.policy == ERGON_ORLOJ_POLICY_NEXUS && nexus.estimate == ERGON_ORLOJ_ESTIMATE_P99);
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "(expected orloj, clockwork, nexus, clipper, edf or fifo",
         ergon::orloj::policy_code("orloj-p99"));
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "unknown policy 99",
         ergon::orloj::policy_name({99, ERGON_ORLOJ_ESTIMATE_MEAN}));
  CHECK(ergon::orloj::estimate_name(ERGON_ORLOJ_ESTIMATE_P99) == "p99");
  CHECK(ergon::dpk::scheduler_name(ERGON_DPK_SCHEDULER_OPTIMAL) == "optimal");
  CHECK(ergon::dpk::scheduler_code("fcfs") == ERGON_DPK_SCHEDULER_FCFS);
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "unknown scheduler \"greedy\"",
         ergon::dpk::scheduler_code("greedy"));
  CHECK(ergon::perseus::schedule_name(ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B) ==
        "interleaved_1f1b");
  CHECK(ergon::perseus::kind_code("backward") == ERGON_PERSEUS_KIND_BACKWARD);
  std::cout << "names: ok\n";
}

} // namespace

int main() {
  return check_main([] {
    oracle();
    server_loop();
    errors_and_ownership();
    documents();
    names();
  });
}
