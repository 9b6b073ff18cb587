// frontier.cpp: plan the GPU frequencies of a pipeline-parallel training iteration with ergon's
// Perseus energy frontier, through the C++ wrapper ergon.hpp. Copy this directory to start a
// program of your own; README.md shows how to build it with CMake or pkg-config.
//
// Usage: ergon_frontier [INSTANCE.json]
//
// Without an argument the frontier comes from the small profile below (two GPUs, 1F1B, four
// microbatches, a forward and a backward pass measured at three SM clocks); with one it comes
// from a perseus-instance/v1 document (`ergon perseus profile` writes them; the repository's
// ../shared/data/perseus/*.instance.json are examples).
//
// It prints the frontier's T_min (fastest iteration) and T* (least-energy iteration), the time
// and energy of the fastest plan, of T*'s and of the least-energy plan that keeps the iteration
// within 10 % of T_min, picks the last, and prints the program of stage 0 under it (the SM
// clock to set before each computation).

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <ergon.hpp>

namespace {

// A zeus-style profile: per stage, per computation kind, per SM clock (MHz) the time (s) and
// energy (J) of one microbatch. On a real cluster it comes from measuring the model.
const char PROFILE_CSV[] = "stage,instruction,frequency,time,energy\n"
                           "0,forward,1410,0.010,3.1\n"
                           "0,forward,1200,0.012,2.3\n"
                           "0,forward,1005,0.015,2.4\n"
                           "0,backward,1410,0.021,6.2\n"
                           "0,backward,1200,0.025,4.6\n"
                           "0,backward,1005,0.031,4.1\n"
                           "1,forward,1410,0.011,3.3\n"
                           "1,forward,1200,0.013,2.4\n"
                           "1,forward,1005,0.016,2.6\n"
                           "1,backward,1410,0.022,6.6\n"
                           "1,backward,1200,0.026,4.8\n"
                           "1,backward,1005,0.033,4.4\n";

// The time quantum of the plan (1 ms) and the power of a GPU waiting for its neighbours (W).
constexpr double UNIT_TIME_S = 0.001;
constexpr double P_BLOCKING_W = 60.0;

// The longest iteration time, as a fraction of T_min, worth T*'s energy saving.
constexpr double MAX_SLOWDOWN = 1.10;

std::string read_file(const char *path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(std::string("cannot read ") + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

int main(int argc, char **argv) {
  if (argc > 2) {
    std::fprintf(stderr, "usage: %s [INSTANCE.json]\n", argv[0]);
    return 2;
  }
  try {
    // Fails early, with both versions named, if the loaded libergon is of another ABI.
    ergon::check_abi();
    std::printf("libergon %s (ABI %u)\n", ergon::version().c_str(), ergon::abi_version());

    ergon::perseus::Frontier frontier =
        argc == 2 ? ergon::perseus::Frontier::from_instance_json(read_file(argv[1]))
                  : ergon::perseus::Frontier::from_profile_csv(
                        PROFILE_CSV,
                        ergon_perseus_pipeline{ERGON_PERSEUS_SCHEDULE_1F1B, /*num_stages=*/2,
                                               /*num_microbatches=*/4, /*virtual_stages=*/0},
                        UNIT_TIME_S, P_BLOCKING_W);
    frontier.solve();
    ergon_perseus_summary s = frontier.summary();
    std::printf("frontier: %zu points, T_min %.3f s, T* %.3f s (%.1f J), T_max %.3f s\n",
                s.num_points, s.t_min_s, s.t_star_s, s.t_star_energy_j, s.t_max_s);

    // Three plans: the fastest, T*'s, and the least energy for an iteration allowed to take
    // up to 10 % longer than T_min (waiting included, as when a straggler sets the pace).
    double deadline_s = MAX_SLOWDOWN * s.t_min_s;
    ergon::perseus::Plan plan = frontier.plan_for_deadline(deadline_s);
    auto report = [](const char *name, const ergon::perseus::Plan &p) {
      ergon_perseus_plan_info info = p.summary();
      std::printf("plan %-8s %.3f s, %.1f J per iteration\n", name, info.time_s, info.energy_j);
    };
    report("fastest", frontier.plan_fastest());
    report("T*", frontier.plan_t_star());
    report("deadline", plan);
    std::printf("picked: the deadline plan (%.3f s = %.2f T_min)\n", deadline_s, MAX_SLOWDOWN);

    std::printf("stage 0:");
    for (const ergon::perseus::Step &step : plan.stage(0)) {
      std::printf(" %s@%u", ergon::perseus::kind_name(step.kind).c_str(), step.freq_mhz);
    }
    std::printf("\n");

    // The library also schedules privacy budgets (ergon::dpk) and batches inference requests
    // (ergon::orloj); its names for their options come from the library itself.
    std::printf("DPK's default scheduler: %s\n",
                ergon::dpk::scheduler_name(ergon_dpk_options_default().scheduler).c_str());
    return 0;
  } catch (const ergon::Error &e) {
    std::fprintf(stderr, "ergon: %s\n", e.what());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 1;
}
