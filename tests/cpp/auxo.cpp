// auxo.cpp: the cohort clusterer (bindings/cpp/ergon.hpp, ergon::auxo) with no direct call of
// the C functions, on the reference playground (notes oobleck-auxo.md B8/B10): 1000 clients at
// two well-separated Gaussian blobs, their positions used as updates, 50 random participants
// per round, a step for each cohort's participants. B10's oracles: the first split comes within
// ~20 rounds and the cohorts are >= 90 % pure; fixed split rounds {20, 40} give 4 cohorts, the
// second and third in the same round. Bad input throws ergon::Error naming it and changes
// nothing; move-only RAII.
//
// Usage: auxo   (no arguments)

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "check.hpp"
#include "ergon.hpp"

using ergon::auxo::Clusterer;

static_assert(is_move_only_v<Clusterer>, "Clusterer is move-only");

namespace {

constexpr uint32_t kClients = 1000;
constexpr uint32_t kPerRound = 50;

// splitmix64: a tiny generator whose sequence is the same on every platform.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double gauss() {
    double u = 1.0 - uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
};

struct Run {
  std::vector<std::pair<uint32_t, uint32_t>> splits; // (round, cohorts after)
  double purity = 0.0;
};

Run playground(Clusterer &c, uint32_t rounds, uint64_t seed) {
  Rng rng{seed};
  std::vector<std::vector<float>> pos;
  std::vector<int> blob;
  for (uint32_t i = 0; i < kClients; ++i) {
    int g = static_cast<int>(i % 2);
    pos.push_back({static_cast<float>((g == 0 ? -8.0 : 8.0) + 2.0 * rng.gauss()),
                   static_cast<float>(2.0 * rng.gauss())});
    blob.push_back(g);
  }
  std::vector<uint32_t> perm(kClients);
  for (uint32_t i = 0; i < kClients; ++i) perm[i] = i;
  Run run;
  for (uint32_t r = 0; r < rounds; ++r) {
    for (uint32_t i = 0; i < kPerRound; ++i) std::swap(perm[i], perm[i + rng.below(kClients - i)]);
    uint32_t cohorts = c.num_cohorts();
    for (uint32_t m = 0; m < cohorts; ++m) {
      std::vector<uint32_t> ids;
      std::vector<std::vector<float>> rows;
      for (uint32_t k = 0; k < kPerRound; ++k) {
        if (c.cohort_of(perm[k]) == m) {
          ids.push_back(perm[k]);
          rows.push_back(pos[perm[k]]);
        }
      }
      if (ids.size() < 5) continue;
      ergon_auxo_step_result out = c.step(m, ids, rows);
      CHECK(out.ran);
      if (out.split) {
        CHECK(out.split_parent == m && out.split_child + 1 == out.num_cohorts);
        run.splits.push_back({r, out.num_cohorts});
      }
    }
  }
  std::map<std::pair<uint32_t, int>, uint32_t> counts;
  std::vector<uint32_t> a = c.assignment();
  CHECK(a.size() == kClients);
  for (uint32_t i = 0; i < kClients; ++i) counts[{a[i], blob[i]}]++;
  std::map<uint32_t, uint32_t> best;
  for (const auto &kv : counts) best[kv.first.first] = std::max(best[kv.first.first], kv.second);
  uint32_t pure = 0;
  for (const auto &kv : best) pure += kv.second;
  run.purity = static_cast<double>(pure) / kClients;
  return run;
}

ergon_auxo_options playground_options(uint64_t seed) {
  ergon_auxo_options o = ergon::auxo::options(kClients, 0.9);
  o.signal = ERGON_AUXO_SIGNAL_RAW;
  o.known_clients = 150.0;
  o.seed = seed;
  return o;
}

} // namespace

int main() {
  return check_main([] {
    for (uint64_t seed : {1u}) {
      Clusterer c(playground_options(seed));
      Run run = playground(c, 60, seed);
      CHECK(!run.splits.empty() && run.splits[0].first <= 20);
      CHECK(run.purity >= 0.9);
      uint64_t members = 0;
      for (uint32_t m = 0; m < c.num_cohorts(); ++m) members += c.members(m);
      CHECK(members == kClients);
      CHECK(c.best_cohort(0) < c.num_cohorts());

      // The same seed again: the same splits and cohorts.
      Clusterer again(playground_options(seed));
      Run rerun = playground(again, 60, seed);
      CHECK(rerun.splits == run.splits);
      CHECK(again.assignment() == c.assignment());
    }

    ergon_auxo_options fixed = playground_options(2);
    const uint32_t rounds[] = {20, 40};
    fixed.split_test = ERGON_AUXO_SPLIT_TEST_FIXED;
    fixed.split_rounds = rounds;
    fixed.num_split_rounds = 2;
    Clusterer f(fixed);
    Run run = playground(f, 45, 2);
    std::vector<std::pair<uint32_t, uint32_t>> want = {{19, 2}, {39, 3}, {39, 4}};
    CHECK(run.splits == want);
    CHECK(f.num_cohorts() == 4);

    Clusterer c(playground_options(5));
    std::vector<uint32_t> before = c.assignment();
    std::vector<std::vector<float>> rows = {{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}};
    std::vector<uint32_t> ids = {0, 1, 2, 3, 4, 5};
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "at least one participant", c.step(0, {}, {}, 2));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "ragged", c.step(0, {0, 1}, {{1, 2}, {3}}));
    std::vector<std::vector<float>> nan_rows = rows;
    nan_rows[4][1] = std::nanf("");
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "client 4", c.step(0, ids, nan_rows));
    THROWS(ERGON_STATUS_OUT_OF_RANGE, "unknown client id 1000",
           c.step(0, {0, 1, 2, 3, 4, 1000}, rows));
    THROWS(ERGON_STATUS_OUT_OF_RANGE, "unknown cohort 3", c.step(3, ids, rows));
    THROWS(ERGON_STATUS_OUT_OF_RANGE, "unknown client id 5000", c.cohort_of(5000));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "twice", c.step(0, {0, 1, 2, 3, 4, 4}, rows));
    CHECK(c.assignment() == before);
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "options.clients",
           Clusterer probe(ergon::auxo::options(0, 0.5)));
    ergon_auxo_options bad = playground_options(1);
    bad.split_test = 7;
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "options.split_test", Clusterer probe(bad));

    Clusterer moved = std::move(c);
    CHECK(moved && !c);
    CHECK(moved.num_cohorts() == 1);
    THROWS(ERGON_STATUS_NULL_POINTER, "", c.num_cohorts());
    std::printf("auxo: two blobs split and fixed rounds {20, 40} give 4 cohorts\n");
  });
}
