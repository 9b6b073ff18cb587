/*
 * gpu_fixture.h: the plan that tests/c/gpu.c and tests/cpp/gpu.cpp run on the fake NVML
 * (tests/fake-nvml). ffi/tests/c_abi.rs asserts the clocks both programs lock, so both take
 * them from here.
 *
 * Two stages, two microbatches, the same profiles on both: at T* stage 0 runs forward,
 * forward, backward, backward at 1200, 1200, 1005, 1005 MHz (clocks the fake A100 supports:
 * 210..1410 in 15 MHz steps).
 */

#ifndef ERGON_TEST_GPU_FIXTURE_H
#define ERGON_TEST_GPU_FIXTURE_H

#include <stdint.h>

#include "ergon.h"

static const char GPU_PROFILE_CSV[] = "stage,instruction,frequency,time,energy\n"
                                      "0,forward,1410,0.010,3.0\n"
                                      "0,forward,1200,0.012,2.2\n"
                                      "0,forward,1005,0.015,2.5\n"
                                      "0,backward,1410,0.020,6.0\n"
                                      "0,backward,1200,0.024,4.4\n"
                                      "0,backward,1005,0.030,4.0\n"
                                      "1,forward,1410,0.010,3.0\n"
                                      "1,forward,1200,0.012,2.2\n"
                                      "1,forward,1005,0.015,2.5\n"
                                      "1,backward,1410,0.020,6.0\n"
                                      "1,backward,1200,0.024,4.4\n"
                                      "1,backward,1005,0.030,4.0\n";

/* The profiles' pipeline: 1F1B, 2 stages, 2 microbatches; planned with a 1 ms quantum and 60 W
 * of blocking power. */
#define GPU_PIPELINE                                                                          \
  { ERGON_PERSEUS_SCHEDULE_1F1B, 2, 2, 0 }
#define GPU_UNIT_TIME_S 0.001
#define GPU_P_BLOCKING_W 60.0

/* Stage 0's program at T*. */
#define GPU_PROGRAM_LEN 4
static const uint32_t GPU_PROGRAM_KINDS[GPU_PROGRAM_LEN] = {
    ERGON_PERSEUS_KIND_FORWARD, ERGON_PERSEUS_KIND_FORWARD, ERGON_PERSEUS_KIND_BACKWARD,
    ERGON_PERSEUS_KIND_BACKWARD};
static const uint32_t GPU_PROGRAM_FREQS_MHZ[GPU_PROGRAM_LEN] = {1200, 1200, 1005, 1005};

#endif /* ERGON_TEST_GPU_FIXTURE_H */
