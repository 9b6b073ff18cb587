// abi_mismatch.cpp: a program compiled with bindings/cpp/ergon.hpp (ERGON_ABI_VERSION 2) that
// runs against a libergon reporting another ABI version: fake_libergon_v1.c beside it, whose
// ergon_abi_version() returns 1 and whose every other function aborts the program when
// called. Every constructor and free function of the wrapper must refuse that library with
// ergon::AbiMismatch (status ERGON_STATUS_INVALID_STATE, a message naming both versions)
// before it calls anything else in it, default arguments included.
//
// Usage: abi_mismatch   (no arguments; linked with the fake's object file, see
// ffi/tests/c_abi.rs).
// Prints "all checks passed" and exits 0 when every check holds.

#include <cstdint>
#include <string>
#include <vector>

#include "../check.hpp"
#include "ergon.hpp"

namespace {

const std::string LIBRARY = "implements ABI version 1";
const std::string HEADER = "for ABI version " + std::to_string(ERGON_ABI_VERSION);

// Checks the message of a refusal (THROWS already checked its status and that it names the
// library's version): it also names the header's.
void names_both(const std::string &message) {
  CHECK(message.find(HEADER) != std::string::npos);
}

#define REFUSED(...)                                                                          \
  names_both(THROWS(ERGON_STATUS_INVALID_STATE, LIBRARY, __VA_ARGS__))

void entry_points() {
  const std::vector<double> alphas = {2.0, 3.0};
  const ergon_perseus_pipeline pipeline = {ERGON_PERSEUS_SCHEDULE_1F1B, 1, 1, 0};
  const ergon_perseus_problem perseus_problem{};
  const ergon_dpk_problem dpk_problem{};

  REFUSED(ergon::check_abi());

  REFUSED(ergon::perseus::Frontier f(perseus_problem));
  REFUSED(ergon::perseus::Frontier::from_instance_json("{}"));
  REFUSED(ergon::perseus::Frontier::from_profile_csv("", pipeline, 0.001, 60.0));

  REFUSED(ergon::dpk::Workload w(dpk_problem));
  REFUSED(ergon::dpk::Workload::from_json("{}"));
  REFUSED(ergon::dpk::standard_alphas());
  REFUSED(ergon::dpk::dense_alphas());
  REFUSED(ergon::dpk::block_capacity(alphas, 1.0, 1e-5));
  REFUSED(ergon::dpk::gaussian(alphas, 1.0));
  REFUSED(ergon::dpk::laplace(alphas, 1.0));
  REFUSED(ergon::dpk::subsampled_gaussian(alphas, 0.01, 1.0, 10.0));
  REFUSED(ergon::dpk::subsampled_laplace(alphas, 0.01, 1.0, 10.0));
  REFUSED(ergon::dpk::compose({alphas}));
  REFUSED(ergon::dpk::gaussian_sigma(1.0, 1e-5));
  REFUSED(ergon::dpk::gaussian_sigma_classic(0.5, 1e-5));
  REFUSED(ergon::dpk::gaussian_delta(1.0, 1.0));
  REFUSED(ergon::dpk::dp_epsilon(alphas, alphas, 1e-5));
  REFUSED(ergon::dpk::dp_delta(alphas, alphas, 1.0));

  // The default options are the library's: asked for only after the check.
  REFUSED(ergon::orloj::Batcher b({ergon::orloj::App::constant("a", 0.1, 0.01)}, 4));
  REFUSED(ergon::orloj::Batcher::from_json("{}"));
  REFUSED(ergon::orloj::simulate_json("{}"));

  REFUSED(ergon::gpu::count());
  REFUSED(ergon::gpu::info(0));
  REFUSED(ergon::gpu::devices());
  REFUSED(ergon::gpu::restore());
  REFUSED(ergon::gpu::PlanExecutor("0", ergon::perseus::Plan(nullptr), 0));
  REFUSED(ergon::gpu::EnergyMonitor("0"));
}

} // namespace

int main() {
  return check_main([] {
    // The versions, from the exception itself.
    CHECK(ergon::abi_version() == 1);
    try {
      ergon::check_abi();
      CHECK(!"check_abi accepted a library of ABI version 1");
    } catch (const ergon::AbiMismatch &e) {
      CHECK(e.library_abi() == 1);
      CHECK(e.header_abi() == ERGON_ABI_VERSION);
      CHECK(e.status() == ERGON_STATUS_INVALID_STATE);
    }
    entry_points();
  });
}
