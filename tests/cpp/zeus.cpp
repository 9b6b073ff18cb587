// zeus.cpp: ergon::zeus::PowerLimitOptimizer (bindings/cpp/ergon.hpp) against the fake NVML,
// as tests/c/zeus.c runs the C ABI: candidates 400, 250 and 100 W, every GPU drawing 250 W
// capped by its limit, the energy selector; 100 W must be chosen and held, the std::function
// callbacks called (sync around every window, aggregate once per window), a throwing
// aggregate must stop the optimizer, and bad options throw ergon::Error with their status.
//
// Usage: zeus run. The harness (ffi/tests/c_abi.rs) sets the fake's variables with
// FAKE_NVML_POWER_W=250 and checks that the GPU ends as it started.

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

static ergon::zeus::PowerLimitOptions small_options() {
  ergon::zeus::PowerLimitOptions o;
  o.wait_steps = 0;
  o.warmup_steps = 1;
  o.profile_steps = 2;
  o.step_mw = 150000;
  o.selector = ergon::zeus::Selector::Energy;
  return o;
}

int main() {
  static_assert(is_move_only_v<ergon::zeus::PowerLimitOptimizer>);
  return check_main([] {
    ergon::zeus::PowerLimitOptions bad = small_options();
    bad.selector = ergon::zeus::Selector::ZeusCost;
    bad.eta = -0.5;
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "eta", ergon::zeus::PowerLimitOptimizer({"0"}, bad));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "at least one GPU",
           ergon::zeus::PowerLimitOptimizer({}, small_options()));

    int syncs = 0, aggregates = 0;
    ergon::zeus::PowerLimitOptions o = small_options();
    o.sync = [&] { syncs++; };
    o.aggregate = [&](double &energy_j, double &time_s) {
      aggregates++;
      return energy_j > 0 && time_s > 0;
    };
    ergon::zeus::PowerLimitOptimizer plo({"0"}, o);
    // Moves keep the callbacks where the library finds them.
    ergon::zeus::PowerLimitOptimizer moved = std::move(plo);
    int steps = 0;
    for (; steps < 50 && !moved.done(); steps++) {
      moved.on_step_begin();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(steps == 10);
    CHECK(moved.state().optimal_limit_mw == 100000);
    CHECK(syncs == 6 && aggregates == 3);
    CHECK(moved.profile_json().find("\"power_limit_mw\":100000") != std::string::npos);
    moved.on_epoch_end();
    moved.close();

    ergon::zeus::PowerLimitOptions failing = small_options();
    failing.aggregate = [](double &, double &) -> bool {
      throw std::runtime_error("all_reduce failed");
    };
    ergon::zeus::PowerLimitOptimizer stops({"0"}, failing);
    THROWS(ERGON_STATUS_GPU, "aggregate callback returned false", {
      for (int i = 0; i < 10; i++) {
        stops.on_step_begin();
      }
    });
    CHECK(stops.state().phase == ERGON_ZEUS_PHASE_STOPPED);
    THROWS(ERGON_STATUS_INVALID_STATE, "stopped", stops.on_step_begin());

    // The batch-size optimizer, resumed from its JSON each recurrence: the reference's pruning
    // order (tests/c/zeus.c explains the costs).
    static_assert(is_move_only_v<ergon::zeus::BatchSizeOptimizer>);
    ergon::zeus::BatchSizeOptions bo = ergon::zeus::batch_size_options_default();
    bo.max_power_w = 300.0;
    std::string state = ergon::zeus::BatchSizeOptimizer({8, 16, 32, 64}, 32, bo).to_json();
    const uint32_t want[8] = {32, 16, 8, 64, 16, 8, 32, 64};
    for (uint32_t w : want) {
      ergon::zeus::BatchSizeOptimizer b = ergon::zeus::BatchSizeOptimizer::from_json(state);
      uint32_t size = b.next_batch_size();
      CHECK(size == w);
      const double time_s = size == 8 ? 14.0 : size == 16 ? 10.0 : size == 32 ? 12.0 : 16.0;
      b.report(size, time_s, 0.0, true);
      state = b.to_json();
    }
    CHECK(ergon::zeus::BatchSizeOptimizer::from_json(state).cost_limit() == 3000.0);
    THROWS(ERGON_STATUS_SCHEMA, "zeus-bso-state/v1",
           ergon::zeus::BatchSizeOptimizer::from_json("{\"schema\":\"zeus-sim/v1\"}"));
    bo.max_power_w = 0.0;
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "max_power_w",
           ergon::zeus::BatchSizeOptimizer({8, 16}, 8, bo));
  });
}
