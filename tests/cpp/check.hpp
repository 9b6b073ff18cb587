// check.hpp: the checks shared by every C++ test program under tests/cpp. It adds to
// tests/c/check.h (CHECK, MUST, check_close_to, check_read_file, check_finish, ...) what the
// wrapper's exceptions need:
//
//   THROWS(want, part, statements...)  the statements must throw ergon::Error with status
//                                      `want` and a non-empty message containing `part` ("":
//                                      any); prints "  [status text] message" (the harness
//                                      counts some of these lines) and returns the message.
//   check_main(body)                   main's return value: runs `body`, reports an
//                                      ergon::Error it did not expect, then check_finish().
//   is_move_only_v<T>                  T cannot be copied and moves without throwing.

#ifndef ERGON_TEST_CHECK_HPP
#define ERGON_TEST_CHECK_HPP

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>

#include "../c/check.h"
#include "ergon.hpp"

template <class T>
constexpr bool is_move_only_v =
    !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
    std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>;

template <class Body>
std::string check_throws(ergon_status want, std::string_view part, Body body, const char *what,
                         const char *file, int line) {
  check_count_++;
  check_failing_calls_++;
  try {
    body();
  } catch (const ergon::Error &e) {
    const std::string message = e.what();
    if (e.status() != want) {
      std::fprintf(stderr, "%s:%d: %s threw status %d (%s), expected %d (%s): %s\n", file,
                   line, what, static_cast<int>(e.status()), ergon_status_str(e.status()),
                   static_cast<int>(want), ergon_status_str(want), message.c_str());
      check_failures_++;
    } else if (message.empty() || message.find(part) == std::string::npos) {
      std::fprintf(stderr, "%s:%d: %s: message \"%s\" lacks \"%.*s\"\n", file, line, what,
                   message.c_str(), static_cast<int>(part.size()), part.data());
      check_failures_++;
    }
    std::printf("  [%s] %s\n", ergon_status_str(e.status()), message.c_str());
    return message;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s:%d: %s threw a non-ergon exception: %s\n", file, line, what,
                 e.what());
    check_failures_++;
    return std::string();
  }
  std::fprintf(stderr, "%s:%d: %s threw nothing\n", file, line, what);
  check_failures_++;
  return std::string();
}

#define THROWS(want, part, ...)                                                               \
  check_throws((want), (part), [&] { __VA_ARGS__; }, #__VA_ARGS__, __FILE__, __LINE__)

template <class Body> int check_main(Body body) {
  try {
    body();
  } catch (const ergon::Error &e) {
    std::fprintf(stderr, "unexpected ergon::Error %d (%s): %s\n", static_cast<int>(e.status()),
                 ergon_status_str(e.status()), e.what());
    return 1;
  }
  return check_finish();
}

#endif // ERGON_TEST_CHECK_HPP
