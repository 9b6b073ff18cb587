// gpu_profiler.cpp: ergon::gpu::Profiler of the C++17 wrapper (bindings/cpp/ergon.hpp) against
// the fake NVML's power model (tests/fake-nvml with FAKE_NVML_IDLE_W), with no direct call of
// the C profiler functions: a stage of forward and backward computations (the fake's own
// fakeNvmlRun, looked up with dlsym) profiled with a std::function sync callback, the CSV
// listing every profiled clock with times growing as the clock falls, P_blocking, failures as
// ergon::Error, a move of the running profiler (the callback must survive it),
// ergon::perseus::merge_profile_csv, and the frontier read back from the merged profile.
//
// Usage: gpu_profiler run   (ffi/tests/c_abi.rs sets ERGON_NVML_LIBRARY, FAKE_NVML_LOG,
// FAKE_NVML_STATE, ERGON_STATE_DIR, FAKE_NVML_IDLE_W and FAKE_NVML_POWER_W)

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "check.hpp"
#include "ergon.hpp"

using ergon::gpu::Profiler;
using ergon::gpu::ProfilerOptions;

static_assert(is_move_only_v<Profiler>, "Profiler is move-only");

namespace {

int (*fake_run)(unsigned, double) = nullptr;

void load_fake() {
  const char *path = std::getenv("ERGON_NVML_LIBRARY");
  void *lib = path != nullptr ? dlopen(path, RTLD_NOW) : nullptr;
  void *run = lib != nullptr ? dlsym(lib, "fakeNvmlRun") : nullptr;
  if (run == nullptr) {
    std::fprintf(stderr, "cannot load fakeNvmlRun from the fake NVML\n");
    std::exit(1);
  }
  std::memcpy(&fake_run, &run, sizeof run);
}

// The clocks (MHz) of the rows of `instruction` in a profile CSV, in order.
std::vector<unsigned> clocks_of(const std::string &csv, const std::string &instruction,
                                std::vector<double> *times) {
  std::vector<unsigned> out;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line); // header
  while (std::getline(in, line)) {
    unsigned stage = 0, mhz = 0;
    char name[16] = "";
    double time_s = 0.0, energy_j = 0.0;
    if (std::sscanf(line.c_str(), "%u,%15[^,],%u,%lf,%lf", &stage, name, &mhz, &time_s,
                    &energy_j) == 5 &&
        instruction == name) {
      out.push_back(mhz);
      times->push_back(time_s);
    }
  }
  return out;
}

void run() {
  load_fake();
  int syncs = 0;
  ProfilerOptions options;
  options.step_mhz = 300;
  options.max_slowdown = 1.4;
  options.blocking_window_s = 0.2;
  options.sync = [&syncs] { ++syncs; };
  THROWS(ERGON_STATUS_INVALID_ARGUMENT, "min_mhz = 5000", [&] {
    ProfilerOptions high = options;
    high.min_mhz = 5000;
    Profiler p("0", 0, high);
  }());
  Profiler first("0", 0, options);
  CHECK(first.progress().freq_mhz == 1410);
  THROWS(ERGON_STATUS_INVALID_STATE, "without an instruction_begin",
         first.instruction_end("forward"));
  CHECK(first.last_error().find("without an instruction_begin") != std::string::npos);
  // Moved while running: the sync callback goes with it.
  Profiler profiler = std::move(first);
  CHECK(!first);
  int iterations = 0;
  bool done = false;
  while (!done && iterations < 20) {
    for (const char *name : {"forward", "forward", "backward", "backward"}) {
      profiler.instruction_begin(name);
      CHECK(fake_run(0, std::strcmp(name, "forward") == 0 ? 0.03 : 0.06) == 0);
      profiler.instruction_end(name);
    }
    done = profiler.step_end();
    ++iterations;
  }
  CHECK(done && profiler.done());
  CHECK(iterations == 9);
  CHECK(syncs == 6 * 8 + 1);
  const double p_blocking = profiler.p_blocking_w();
  std::printf("P_blocking %.2f W\n", p_blocking);
  CHECK(p_blocking > 55.0 && p_blocking < 65.0);
  const std::string csv = profiler.to_csv();
  std::vector<double> times;
  const std::vector<unsigned> clocks = clocks_of(csv, "forward", &times);
  CHECK((clocks == std::vector<unsigned>{1410, 1110, 810}));
  CHECK(times.size() == 3 && times[0] < times[1] && times[1] < times[2]);
  THROWS(ERGON_STATUS_INVALID_STATE, "profiling is done", profiler.instruction_begin("forward"));
  profiler.close();
  CHECK(!profiler);

  // Stage 0 and a stage 1 with the same measurements make a two-stage pipeline profile.
  std::string stage1 = csv;
  for (size_t at = stage1.find("\n0,"); at != std::string::npos; at = stage1.find("\n0,", at)) {
    stage1[at + 1] = '1';
  }
  const std::string merged = ergon::perseus::merge_profile_csv({csv, stage1});
  CHECK(merged.find("\n1,backward,810,") != std::string::npos);
  THROWS(ERGON_STATUS_INVALID_PROBLEM, "appears twice", ergon::perseus::merge_profile_csv({csv, csv}));
  ergon::perseus::Frontier frontier = ergon::perseus::Frontier::from_profile_csv(
      merged, ergon_perseus_pipeline{ERGON_PERSEUS_SCHEDULE_1F1B, 2, 2, 0}, 0.001, p_blocking);
  frontier.solve();
  std::printf("frontier points: %zu\n", frontier.num_points());
  CHECK(frontier.num_points() > 1);
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2 || std::strcmp(argv[1], "run") != 0) {
    std::fprintf(stderr, "usage: gpu_profiler run\n");
    return 2;
  }
  return check_main(run);
}
