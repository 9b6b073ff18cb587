// gpu.cpp: the GPU classes of the C++17 wrapper (bindings/cpp/ergon.hpp) against the fake NVML
// (tests/fake-nvml), with no direct call of the C functions: ergon::gpu::count/info/devices/
// restore, an PlanExecutor running two iterations of one stage's plan (by kind and by
// name; the clock the fake reports during each computation is printed for the harness),
// failures as ergon::Error with status and message, move-only handles that restore when
// destroyed or closed, and EnergyMonitor with scoped EnergyWindow.
//
// Usage: gpu run | gpu no-nvml   (ffi/tests/c_abi.rs sets ERGON_NVML_LIBRARY, FAKE_NVML_LOG,
// FAKE_NVML_STATE and ERGON_STATE_DIR and checks the fake's log and final state)

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../c/gpu_fixture.h"
#include "check.hpp"
#include "ergon.hpp"

using ergon::gpu::EnergyMonitor;
using ergon::gpu::EnergyWindow;
using ergon::gpu::Measurement;
using ergon::gpu::PlanExecutor;
using ergon::perseus::Plan;
using ergon::perseus::Step;

static_assert(is_move_only_v<PlanExecutor>, "PlanExecutor is move-only");
static_assert(is_move_only_v<EnergyMonitor>, "EnergyMonitor is move-only");
static_assert(!std::is_copy_constructible_v<EnergyWindow>, "EnergyWindow is move-only");
static_assert(std::is_nothrow_move_constructible_v<EnergyWindow>, "noexcept move");

namespace {

// The fake's current graphics-clock lock ("1200:1200" or "none").
std::string gpu_locked() {
  const char *path = std::getenv("FAKE_NVML_STATE");
  std::ifstream in(path != nullptr ? path : "");
  std::string line;
  std::getline(in, line);
  const std::string key = "gpu_locked=";
  size_t at = line.find(key);
  if (at == std::string::npos) {
    return "?";
  }
  at += key.size();
  return line.substr(at, line.find(' ', at) - at);
}

Plan make_plan() {
  ergon::perseus::Frontier f = ergon::perseus::Frontier::from_profile_csv(
      GPU_PROFILE_CSV, ergon_perseus_pipeline GPU_PIPELINE, GPU_UNIT_TIME_S, GPU_P_BLOCKING_W);
  f.solve();
  return f.plan_t_star();
}

const char *name_of(uint32_t kind) {
  return kind == ERGON_PERSEUS_KIND_FORWARD ? "forward" : "backward";
}

void devices() {
  CHECK(ergon::gpu::count() == 1);
  std::vector<ergon::gpu::Info> all = ergon::gpu::devices();
  CHECK(all.size() == 1);
  ergon::gpu::Info g = ergon::gpu::info(0);
  CHECK(g.index == 0 && g.architecture == 7 && !g.is_mig);
  CHECK(g.uuid.rfind("GPU-", 0) == 0 && g.uuid.size() > 4);
  CHECK(g.name == "NVIDIA A100-SXM4-40GB");
  CHECK(!all.empty() && all[0].uuid == g.uuid && all[0].name == g.name);
  std::cout << "gpu " << g.index << ": " << g.name << "\n";
  THROWS(ERGON_STATUS_OUT_OF_RANGE, "GPU 1 does not exist", ergon::gpu::info(1));
}

void executor(const Plan &plan) {
  const std::vector<Step> program = plan.stage(0);
  std::vector<Step> expected;
  for (size_t i = 0; i < GPU_PROGRAM_LEN; ++i) {
    expected.push_back(Step{GPU_PROGRAM_KINDS[i], GPU_PROGRAM_FREQS_MHZ[i]});
  }
  CHECK(program == expected);
  THROWS(ERGON_STATUS_OUT_OF_RANGE, "stage 5", PlanExecutor("0", plan, 5));
  THROWS(ERGON_STATUS_NULL_POINTER, "plan", PlanExecutor("0", Plan(nullptr), 0));

  PlanExecutor ex("0", plan, 0);
  CHECK(static_cast<bool>(ex) && ex.last_error().empty());
  std::cout << "after startup: " << gpu_locked() << "\n";
  for (int iteration = 1; iteration <= 2; ++iteration) {
    for (const Step &step : program) {
      if (iteration == 1) {
        ex.instruction_begin(step.kind);
      } else {
        ex.instruction_begin(std::string_view(name_of(step.kind)));
      }
      ex.wait_applied();
      std::cout << "iteration " << iteration << ": " << name_of(step.kind) << " at "
                << gpu_locked() << "\n";
    }
    ex.step_end();
  }

  // A plan sent as JSON reads back equal; set between iterations it takes over at once (the
  // same program here, so NVML sees no call); a stage it lacks is refused.
  const Plan sent = Plan::from_json(plan.to_json());
  CHECK(sent.stage(0) == program && sent.to_json() == plan.to_json());
  ex.set_plan(sent, 0);
  THROWS(ERGON_STATUS_OUT_OF_RANGE, "stage 5", ex.set_plan(sent, 5));
  THROWS(ERGON_STATUS_PARSE, "ergon-plan/v1", Plan::from_json("{}"));

  // Violations: nothing advances; the handle's message is the exception's.
  std::string what =
      THROWS(ERGON_STATUS_INVALID_STATE, "plan mismatch", ex.instruction_begin("backward"));
  CHECK(what == ex.last_error());
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "sideways", ex.instruction_begin("sideways"));
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "unknown instruction kind 9",
         ex.instruction_begin(9u));
  ex.instruction_begin("forward");
  ex.wait_applied();
  THROWS(ERGON_STATUS_INVALID_STATE, "incomplete iteration", ex.step_end());

  // Moves: the moved-from executor holds nothing; close() restores now.
  PlanExecutor moved = std::move(ex);
  CHECK(!ex && moved);
  CHECK(ex.last_error().empty());
  THROWS(ERGON_STATUS_NULL_POINTER, "NULL", ex.step_end());
  THROWS(ERGON_STATUS_NULL_POINTER, "NULL", ex.instruction_begin(ERGON_PERSEUS_KIND_FORWARD));
  std::cout << "before close: " << gpu_locked() << "\n";
  moved.close();
  CHECK(!moved);
  std::cout << "after close: " << gpu_locked() << "\n";
  moved.close(); // twice is fine
  THROWS(ERGON_STATUS_NULL_POINTER, "NULL", moved.wait_applied());
}

void energy() {
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "GPU-ffffffff", EnergyMonitor("GPU-ffffffff"));
  EnergyMonitor mon("0");
  Measurement scoped;
  {
    EnergyWindow w = mon.window("scoped", &scoped);
    CHECK(w.open() && w.name() == "scoped");
    THROWS(ERGON_STATUS_INVALID_STATE, "scoped", mon.begin("scoped"));
    THROWS(ERGON_STATUS_INVALID_STATE, "scoped", EnergyWindow(mon, "scoped"));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  } // closed here, written to `scoped`
  CHECK(scoped.time_s >= 0.055 && scoped.time_s < 5.0);
  // 100 W, within 25 % (the window's clock and the fake's counter are read a moment apart).
  CHECK(std::fabs(scoped.power_w() - 100.0) <= 25.0);

  EnergyWindow outer(mon, "outer");
  const std::string longer = "manual window";
  mon.begin(std::string_view(longer).substr(0, 6)); // "manual": a view, not NUL-terminated
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Measurement manual = mon.end("manual");
  EnergyWindow moved_window = std::move(outer);
  CHECK(!outer.open() && moved_window.open());
  THROWS(ERGON_STATUS_INVALID_STATE, "is closed", outer.end());
  Measurement whole = moved_window.end();
  CHECK(!moved_window.open());
  THROWS(ERGON_STATUS_INVALID_STATE, "is closed", moved_window.end());
  CHECK(manual.time_s >= 0.025 && whole.time_s >= manual.time_s);
  THROWS(ERGON_STATUS_INVALID_STATE, "no energy window", mon.end("manual"));
  std::printf("energy: scoped %.3f s %.1f W, manual %.3f s, outer %.3f s\n", scoped.time_s,
              scoped.power_w(), manual.time_s, whole.time_s);

  EnergyMonitor other = std::move(mon);
  THROWS(ERGON_STATUS_NULL_POINTER, "NULL", mon.begin("x"));
  CHECK(!mon && other);
  other.begin("left open"); // dropped with the monitor (valgrind checks the release)
}

void run() {
  devices();
  Plan plan = make_plan();
  executor(plan);
  energy();
  CHECK(ergon::gpu::restore() == 0); // the executor already put everything back
}

void no_nvml() {
  THROWS(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent", ergon::gpu::count());
  THROWS(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent", ergon::gpu::devices());
  THROWS(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent", ergon::gpu::info(0));
  Plan plan = make_plan();
  THROWS(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent", PlanExecutor("0", plan, 0));
  THROWS(ERGON_STATUS_NVML_UNAVAILABLE, "/nonexistent", EnergyMonitor("0"));
  CHECK(ergon::gpu::restore() == 0); // no state file: NVML is not needed
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: gpu run|no-nvml\n";
    return 2;
  }
  const std::string mode = argv[1];
  if (mode != "run" && mode != "no-nvml") {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  return check_main([&] { mode == "run" ? run() : no_nvml(); });
}
