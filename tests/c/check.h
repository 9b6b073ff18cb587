/*
 * check.h: the checks shared by every C test program under tests/c, and by the C++ ones
 * through tests/cpp/check.hpp. Include it once per program: its state is static, so each
 * program has its own counters.
 *
 *   CHECK(cond)                          a condition that must hold. A failure is reported
 *                                        with file and line and the program goes on; the
 *                                        value is the condition's, for use in an `if`.
 *   MUST(call)                           a call that must return ERGON_STATUS_OK; otherwise
 *                                        the program stops, printing the status and the
 *                                        thread's message.
 *   EXPECT_FAIL(want, part, call)        a call that must fail with status `want` and leave a
 *                                        non-empty message containing `part` (NULL: any) in
 *                                        the thread's slot. Prints "  [status text] message"
 *                                        (the harness counts some of these lines).
 *   EXPECT_FAIL_ON(h, want, part, call)  (C only) the same for a call on the live handle `h`,
 *                                        whose own message must equal the thread's.
 *   EXPECT_FAIL_AFTER(reset, change, want, part, call)
 *                                        one row of a table of bad inputs that each differ
 *                                        from a good one by `change`: runs `reset` (rebuilds
 *                                        the good input), then `change`, then expects `call`
 *                                        to fail as EXPECT_FAIL does, naming `change` if not.
 *   TEXT("literal")                      a string literal as the C ABI takes strings in: its
 *                                        pointer, then its length in bytes (no NUL counted).
 *   MUST_TEXT(fn, handle, out)           reads a text with the two-call convention
 *                                        (`fn(handle, NULL, 0, &len)`, then the buffer):
 *                                        `out` gets a malloc'd NUL-terminated copy.
 *   check_finish()                       main's return value: prints how many checks ran and
 *                                        "all checks passed" (what the harness looks for), or
 *                                        how many failed.
 */

#ifndef ERGON_TEST_CHECK_H
#define ERGON_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ergon.h"

static int check_failures_ = 0;
static int check_count_ = 0;
static int check_failing_calls_ = 0;
static char check_thread_buf_[4096];

/* Counts a check; reports it at `file`:`line` if `ok` is 0. Returns `ok`. */
static inline int check_that(int ok, const char *what, const char *file, int line) {
  check_count_++;
  if (!ok) {
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    check_failures_++;
  }
  return ok;
}

#define CHECK(cond) check_that((cond) ? 1 : 0, #cond, __FILE__, __LINE__)

/* This thread's last error message (a static buffer, overwritten by the next call). */
static inline const char *check_thread_message(void) {
  size_t len = 0;
  if (ergon_last_error(check_thread_buf_, sizeof check_thread_buf_, &len) != ERGON_STATUS_OK) {
    return "(ergon_last_error failed)";
  }
  return check_thread_buf_;
}

static inline void check_must(ergon_status status, const char *call, const char *file,
                              int line) {
  check_count_++;
  if (status != ERGON_STATUS_OK) {
    fprintf(stderr, "%s:%d: %s returned %d (%s): %s\n", file, line, call, (int)status,
            ergon_status_str((int)status), check_thread_message());
    exit(1);
  }
}

#define MUST(call) check_must((call), #call, __FILE__, __LINE__)

/* `got` must be `want`; the thread's message must be non-empty, contain `part` (unless NULL)
 * and, where `handle_message` is not NULL, equal it. */
static inline void check_fails(ergon_status got, ergon_status want, const char *handle_message,
                               const char *part, const char *call, const char *file,
                               int line) {
  check_count_++;
  check_failing_calls_++;
  const char *message = check_thread_message();
  if (got != want) {
    fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s); message: %s\n", file, line,
            call, (int)got, ergon_status_str((int)got), (int)want, ergon_status_str((int)want),
            message);
    check_failures_++;
    return;
  }
  if (message[0] == '\0' || (part != NULL && strstr(message, part) == NULL)) {
    fprintf(stderr, "%s:%d: %s: message \"%s\" lacks \"%s\"\n", file, line, call, message,
            part != NULL ? part : "(anything)");
    check_failures_++;
  }
  if (handle_message != NULL && strcmp(handle_message, message) != 0) {
    fprintf(stderr,
            "%s:%d: %s: the handle's message \"%s\" differs from the thread's \"%s\"\n", file,
            line, call, handle_message, message);
    check_failures_++;
  }
  printf("  [%s] %s\n", ergon_status_str((int)got), message);
}

#define EXPECT_FAIL(want, part, call)                                                         \
  check_fails((call), (want), NULL, (part), #call, __FILE__, __LINE__)

#define EXPECT_FAIL_AFTER(reset, change, want, part, call)                                    \
  do {                                                                                        \
    reset;                                                                                    \
    change;                                                                                   \
    check_fails((call), (want), NULL, (part), #call " after " #change, __FILE__, __LINE__);   \
  } while (0)

#ifndef __cplusplus
/* The last_error function of a handle, chosen by the handle's type (a non-const handle: the
 * tests hold them so). */
/* (clang-format cannot lay out _Generic associations.) */
/* clang-format off */
#define CHECK_LAST_ERROR_FN(h)                                                                \
  _Generic((h),                                                                               \
      ergon_perseus_frontier *: ergon_perseus_frontier_last_error,                            \
      ergon_perseus_plan *: ergon_perseus_plan_last_error,                                    \
      ergon_gpu_executor *: ergon_gpu_executor_last_error,                                    \
      ergon_gpu_energy_monitor *: ergon_gpu_energy_monitor_last_error,                        \
      ergon_gpu_profiler *: ergon_gpu_profiler_last_error,                                    \
      ergon_zeus_power_limit_optimizer *: ergon_zeus_power_limit_optimizer_last_error,        \
      ergon_zeus_batch_size_optimizer *: ergon_zeus_batch_size_optimizer_last_error,          \
      ergon_dpk_workload *: ergon_dpk_workload_last_error,                                    \
      ergon_dpk_result *: ergon_dpk_result_last_error,                                        \
      ergon_dpk_online *: ergon_dpk_online_last_error,                                        \
      ergon_orloj_batcher *: ergon_orloj_batcher_last_error,                                  \
      ergon_orloj_simulation *: ergon_orloj_simulation_last_error,                            \
      ergon_auxo_clusterer *: ergon_auxo_clusterer_last_error)
/* clang-format on */

static char check_handle_buf_[4096];

static inline const char *check_handle_text_(ergon_status read) {
  return read == ERGON_STATUS_OK ? check_handle_buf_ : "(the handle's last_error failed)";
}

/* The handle's last error message (a static buffer, overwritten by the next call). */
#define HANDLE_MESSAGE(h)                                                                     \
  check_handle_text_(                                                                         \
      CHECK_LAST_ERROR_FN(h)((h), check_handle_buf_, sizeof check_handle_buf_, &(size_t){0}))

#define EXPECT_FAIL_ON(h, want, part, call)                                                   \
  do {                                                                                        \
    ergon_status expect_status_ = (call); /* before either message is read */                 \
    check_fails(expect_status_, (want), HANDLE_MESSAGE(h), (part), #call, __FILE__,           \
                __LINE__);                                                                    \
  } while (0)
#endif

#define TEXT(literal) (literal), (sizeof(literal) - 1)

/* malloc that ends the program when memory runs out (nothing to test then). */
static inline void *check_alloc(size_t size) {
  void *p = malloc(size > 0 ? size : 1);
  if (p == NULL) {
    fprintf(stderr, "out of memory (%zu bytes)\n", size);
    exit(1);
  }
  return p;
}

#define MUST_TEXT(fn, handle, out)                                                            \
  do {                                                                                        \
    size_t text_len_ = 0;                                                                     \
    MUST(fn((handle), NULL, 0, &text_len_));                                                  \
    (out) = (char *)check_alloc(text_len_ + 1);                                               \
    MUST(fn((handle), (out), text_len_ + 1, &text_len_));                                     \
    CHECK(strlen(out) == text_len_);                                                          \
  } while (0)

/* The whole file at `path`, NUL-terminated (malloc'd; `*len` is its length without the NUL).
 * Ends the program if it cannot be read: every later check would fail for that reason. */
static inline char *check_read_file(const char *path, size_t *len) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(1);
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = (char *)check_alloc(cap);
  for (;;) {
    n += fread(buf + n, 1, cap - n, file);
    if (n < cap) {
      break;
    }
    cap *= 2;
    char *grown = (char *)realloc(buf, cap);
    if (grown == NULL) {
      exit(1);
    }
    buf = grown;
  }
  fclose(file);
  buf[n] = '\0'; /* n < cap: the loop ends with room to spare */
  *len = n;
  return buf;
}

static inline int check_close_to(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* main's exit status: 0 when every check held. */
static inline int check_finish(void) {
  printf("%d checks run (%d failing calls among them)\n", check_count_, check_failing_calls_);
  if (check_failures_ != 0) {
    fprintf(stderr, "%d checks failed\n", check_failures_);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}

#endif /* ERGON_TEST_CHECK_H */
