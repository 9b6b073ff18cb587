// chase.cpp: the carbon-intensity forecaster (bindings/cpp/ergon.hpp, ergon::chase) with no
// direct call of the C functions: persistence repeats the previous slot exactly; on a constant
// series every method forecasts that constant (the LS-SVM's bias is the level and its weights
// vanish); a short ramp through forecast(); bad arguments throw ergon::Error INVALID_ARGUMENT
// naming the problem; move-only RAII.
//
// Usage: chase   (no arguments)

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "check.hpp"
#include "ergon.hpp"

using ergon::chase::Forecaster;

static_assert(is_move_only_v<Forecaster>, "Forecaster is move-only");

int main() {
  return check_main([] {
    std::vector<double> ramp;
    for (int i = 0; i < 60; ++i) {
      ramp.push_back(600.0 + 0.5 * i + 3.0 * std::sin(0.7 * i));
    }
    std::vector<double> p = ergon::chase::forecast(ramp, 48, 48, "persistence");
    CHECK(p.size() == 12);
    for (size_t i = 0; i < p.size(); ++i) {
      CHECK(p[i] == ramp[48 + i - 1]);
    }

    std::vector<double> flat(60, 620.0);
    for (const char *method : {"ergon", "persistence", "svr-like"}) {
      Forecaster f(flat, 48, 48, method);
      for (size_t t = 48; t < flat.size(); ++t) {
        CHECK(check_close_to(f.predict(t, 620.0), 620.0, 1e-9));
      }
    }

    Forecaster f(ramp, 24, 40);
    double next = f.predict(40, ramp[39]);
    CHECK(std::isfinite(next));
    Forecaster moved = std::move(f);
    CHECK(moved && !f);
    CHECK(moved.predict(40, ramp[39]) == next);

    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "unknown forecast method",
           Forecaster(ramp, 48, 48, "svr"));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "beyond the end", Forecaster(ramp, 48, 60));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "does not fit before the start",
           Forecaster(ramp, 50, 49));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "empty", Forecaster({}, 2, 2));
    THROWS(ERGON_STATUS_INVALID_ARGUMENT, "prev_g_per_kwh", moved.predict(41, -1.0));
    std::printf("chase: forecasts checked\n");
  });
}
