// oobleck.cpp: Templates and Plan (bindings/cpp/ergon.hpp) on oracle profile C of the reference
// notes (A12.1: the reference planner's values): the 3-node template's objective 749.4 ms, the
// plan of four 3-node pipelines of 32 microbatches at 1841.4 ms, the reconfiguration after
// losing node 4 ({2, 3, 3, 3} with 23 and 35 microbatches, 2005.2 ms), and the errors (f too
// large, a failure set that leaves no replica) as ergon::Error with their status.
//
// Usage: oobleck   (no arguments)

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "check.hpp"
#include "ergon.hpp"

using ergon::oobleck::Plan;
using ergon::oobleck::Templates;

static_assert(is_move_only_v<Templates>, "Templates is move-only");
static_assert(is_move_only_v<Plan>, "Plan is move-only");

namespace {

std::string oracle_c() {
  std::string doc = "{\"format\": \"oobleck-profile/v1\", \"layers\": [";
  for (int i = 0; i < 24; i++) {
    const double f = i == 0 ? 0.5 : i == 23 ? 3.0 : 2.0 + 0.1 * ((7 * i) % 5);
    const int mem = (i == 0 || i == 23) ? 300 : 100;
    doc += (i ? "," : "") + std::string("{\"forward\": ") + std::to_string(f) +
           ", \"backward\": " + std::to_string(2 * f) +
           ", \"mem_required\": " + std::to_string(mem) + "}";
  }
  return doc + "]}";
}

bool near(double a, double b) { return std::fabs(a - b) < 1e-6; }

void oracle() {
  ergon_oobleck_options o = ergon_oobleck_options_default();
  o.max_nodes = 12;
  o.node_memory_bytes = 1500;
  const Templates t = Templates::from_json(oracle_c(), o);
  CHECK(t.summary().n0 == 2 && t.summary().num_templates == 11);
  CHECK(near(t.get(3).objective_ms, 749.4));
  CHECK(near(t.get(2).objective_ms, 719.1));
  const Plan plan = t.plan(2, 128);
  CHECK(plan.summary().num_pipelines == 4);
  CHECK(near(plan.summary().iteration_time_ms, 1841.4));
  for (size_t i = 0; i < 4; i++) {
    CHECK(plan.pipeline(i).num_nodes == 3 && plan.pipeline(i).microbatches == 32);
  }
  const Plan after = plan.reconfigure({4});
  CHECK(near(after.summary().iteration_time_ms, 2005.2));
  CHECK(after.pipeline(0).num_nodes == 2 && after.pipeline(0).microbatches == 23);
  CHECK(after.pipeline(1).microbatches == 35);
  CHECK(after.summary().num_transfers > 0);
  CHECK(after.to_json().find("\"transfers\"") != std::string::npos);
  std::cout << "oracle C: 4 x 3 nodes, 1841.4 ms; after losing node 4: 2005.2 ms\n";

  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "fault tolerance f = 6", t.plan(6, 128));
  THROWS(ERGON_STATUS_INVALID_STATE, "training must restart", plan.reconfigure({0, 3, 6, 9}));
  THROWS(ERGON_STATUS_OUT_OF_RANGE, "lost node 12", plan.reconfigure({12}));
  THROWS(ERGON_STATUS_OUT_OF_RANGE, "no template for 13 nodes", t.get(13));
  o.node_memory_bytes = 200;
  THROWS(ERGON_STATUS_INVALID_PROBLEM, "layer 0 needs 300 bytes", Templates::from_json(oracle_c(), o));
}

} // namespace

int main() {
  return check_main([] { oracle(); });
}
