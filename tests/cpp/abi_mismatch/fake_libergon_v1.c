/*
 * fake_libergon_v1.c: a stand-in for a libergon of ABI version 1, for abi_mismatch.cpp. It
 * exports ergon_abi_version() (returning 1) and ergon_status_str(), which a refusal may print,
 * and, under the names of the real library, every other function the program links to: those
 * end the program with a message if called, because ergon.hpp must refuse this library
 * before it calls any of them. They are defined without their real parameters: the linker
 * matches names only, and they are never meant to run.
 *
 * Build: cc -c fake_libergon_v1.c -o fake.o, then link fake.o into the program in place of
 * libergon (an object, not a shared library: no search path, LD_LIBRARY_PATH included, can
 * then put the real library in its place).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint32_t ergon_abi_version(void);
uint32_t ergon_abi_version(void) { return 1; }

const char *ergon_status_str(int status);
const char *ergon_status_str(int status) {
  return status == 7 ? "invalid state" : "(a status of the fake ABI-1 libergon)";
}

static void reached(const char *name) {
  fprintf(stderr,
          "fake libergon (ABI 1): %s was called: ergon.hpp should have refused this library "
          "before calling it\n",
          name);
  abort();
}

#define REFUSED(name)                                                                         \
  void name(void);                                                                            \
  void name(void) { reached(#name); }

REFUSED(ergon_version)
REFUSED(ergon_last_error)
REFUSED(ergon_perseus_frontier_new)
REFUSED(ergon_perseus_frontier_from_instance_json)
REFUSED(ergon_perseus_frontier_from_profile_csv)
REFUSED(ergon_perseus_frontier_free)
REFUSED(ergon_perseus_plan_free)
REFUSED(ergon_dpk_workload_new)
REFUSED(ergon_dpk_workload_from_json)
REFUSED(ergon_dpk_workload_free)
REFUSED(ergon_dpk_alphas_standard)
REFUSED(ergon_dpk_alphas_dense)
REFUSED(ergon_dpk_block_capacity_with)
REFUSED(ergon_dpk_curve_gaussian)
REFUSED(ergon_dpk_curve_laplace)
REFUSED(ergon_dpk_curve_subsampled_gaussian)
REFUSED(ergon_dpk_curve_subsampled_laplace)
REFUSED(ergon_dpk_curve_compose)
REFUSED(ergon_dpk_curve_dp_epsilon)
REFUSED(ergon_dpk_curve_dp_delta)
REFUSED(ergon_dpk_gaussian_sigma)
REFUSED(ergon_dpk_gaussian_sigma_classic)
REFUSED(ergon_dpk_gaussian_delta)
REFUSED(ergon_orloj_batcher_options_default)
REFUSED(ergon_orloj_batcher_new)
REFUSED(ergon_orloj_batcher_from_json)
REFUSED(ergon_orloj_batcher_free)
REFUSED(ergon_orloj_simulation_run_json)
REFUSED(ergon_orloj_simulation_to_json)
REFUSED(ergon_orloj_simulation_last_error)
REFUSED(ergon_orloj_simulation_free)
REFUSED(ergon_gpu_device_count)
REFUSED(ergon_gpu_device_get_info)
REFUSED(ergon_gpu_state_restore)
REFUSED(ergon_gpu_executor_new)
REFUSED(ergon_gpu_executor_free)
REFUSED(ergon_gpu_energy_monitor_new)
REFUSED(ergon_gpu_energy_monitor_free)
