// ergon.hpp: a header-only C++17 wrapper over the C ABI in ergon.h (ABI version 2).
//
// One namespace per system, named as everywhere else (the C prefix ergon_<system>_, the Rust
// module, the Python module and the CLI subcommand):
//
//   ergon::perseus  the Perseus energy frontier: Frontier, Plan, Step
//   ergon::dpk      DPK privacy-budget scheduling: Workload, Result, the Rényi-DP helpers
//   ergon::orloj    Orloj batching: App, Batcher, Decision, simulate_json
//   ergon::chase    Chase's carbon-intensity forecaster: Forecaster, forecast
//   ergon::auxo     Auxo's cohort clusterer for federated learning: Clusterer, StepResult
//   ergon::gpu      GPUs through NVML: Info, count/info/devices/restore, PlanExecutor,
//                   EnergyMonitor, EnergyWindow, Measurement
//
// and in `ergon` itself what belongs to no system: Error, AbiMismatch, version(),
// abi_version(), check_abi(). Handles become move-only RAII objects, buffers become
// std::vector / std::string, and every failed call throws ergon::Error, which carries the
// ergon_status and the library's message for it. Link against libergon as for C (`pkg-config
// --cflags --libs ergon`).
//
// The ABI check: every constructor that makes a handle and every free function that calls the
// library first calls ergon::check_abi(), which throws ergon::AbiMismatch (naming both
// versions) when the loaded library's ergon_abi_version() is not the ERGON_ABI_VERSION this
// program was compiled with. Methods of an existing object need no check: the object could
// only be made after one passed.
//
// Strings passed in are std::string_view where the C ABI takes pointer and length (no NUL
// needed); strings and arrays coming out are read with the C ABI's two calls (ask the length,
// then fill).
//
//   auto f = ergon::perseus::Frontier::from_instance_json(text);
//   f.solve();
//   ergon_perseus_summary s = f.summary();
//   ergon::perseus::Plan p = f.plan_t_star();
//   for (ergon::perseus::Step step : p.stage(0)) { /* set step.freq_mhz, then run step.kind */
//   }
//
// GPUs (NVML is loaded at run time; without it calls throw ERGON_STATUS_NVML_UNAVAILABLE):
//
//   for (const ergon::gpu::Info &g : ergon::gpu::devices()) { /* g.index, g.uuid, g.name */ }
//   ergon::gpu::PlanExecutor ex("0", p, stage);   // needs CAP_SYS_ADMIN; restores when
//   destroyed for (ergon::perseus::Step step : p.stage(stage)) {
//   ex.instruction_begin(step.kind); /* run */ } ex.step_end(); // after each iteration
//   ergon::gpu::EnergyMonitor mon("0");
//   ergon::gpu::Measurement m;
//   { ergon::gpu::EnergyWindow w = mon.window("step", &m); /* ... */ }  // m.time_s,
//   m.energy_j
//
// Privacy-budget scheduling (DPK):
//
//   auto w = ergon::dpk::Workload::from_json(text);  // dpk-workload/v1, or from
//   ergon_dpk_problem ergon::dpk::Result r = w.schedule(ERGON_DPK_SCHEDULER_DPK);
//   std::vector<uint64_t> ids = r.allocated();       // r.summary().total_weight,
//   r.remaining() std::vector<double> alphas = ergon::dpk::standard_alphas();   // or
//   dense_alphas() auto curve = ergon::dpk::subsampled_gaussian(alphas, 0.01, 1.0, 1e4);  //
//   DP-SGD double eps = ergon::dpk::dp_epsilon(alphas, curve, 1e-5,
//   ERGON_DPK_CONVERSION_TIGHT).epsilon;
//
// Orloj batching (a server's scheduler: enqueue requests, ask for the next batch when idle):
//
//   ergon::orloj::Batcher b({ergon::orloj::App::bimodal("early-exit", 0.040, 0.006, 0.020,
//   0.3),
//                            ergon::orloj::App::constant("resnet", 0.030, 0.012)},
//                           /*max_batch=*/8);
//   b.enqueue(app, request_id, arrival_s, deadline_s);   // or b.enqueue(app, id, arrival_s)
//   ergon::orloj::Decision d;                            // reuse it: no allocation per call
//   b.next_batch(now_s, d);                              // run d.batch, answer d.dropped
//   b.complete(app, observed_time_s);                    // updates the app's distribution
//
// Threading: like the handles they own, objects are not to be used from two threads at once;
// distinct objects may be used from distinct threads.

#ifndef ERGON_HPP
#define ERGON_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ergon.h"

namespace ergon {

// A failed call: the status and the library's message (which names the C function).
class Error : public std::runtime_error {
public:
  Error(ergon_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}

  ergon_status status() const noexcept { return status_; }

private:
  ergon_status status_;
};

// The loaded library implements another ABI version than the one this program was compiled
// for (status ERGON_STATUS_INVALID_STATE: nothing can be called safely).
class AbiMismatch : public Error {
public:
  AbiMismatch(uint32_t library_abi, uint32_t header_abi)
      : Error(ERGON_STATUS_INVALID_STATE,
              "ergon: the loaded libergon implements ABI version " +
                  std::to_string(library_abi) +
                  ", but this program was compiled with ergon.hpp for ABI version " +
                  std::to_string(header_abi) +
                  ": rebuild it against the headers of the installed library, or load the "
                  "library its headers came with"),
        library_abi_(library_abi), header_abi_(header_abi) {}

  // ergon_abi_version() of the loaded library.
  uint32_t library_abi() const noexcept { return library_abi_; }
  // ERGON_ABI_VERSION of the header this program was compiled with.
  uint32_t header_abi() const noexcept { return header_abi_; }

private:
  uint32_t library_abi_;
  uint32_t header_abi_;
};

// The library version, e.g. "0.1.0" (no ABI check: it is what a mismatch report prints).
inline std::string version() { return ergon_version(); }

// The ABI version of the loaded library; ERGON_ABI_VERSION is the header's.
inline uint32_t abi_version() noexcept { return ergon_abi_version(); }

// Throws AbiMismatch unless the loaded library implements the ABI of this header. The library
// is asked once per process (it cannot change while loaded); every constructor and free
// function of this header calls this first, so a program only calls it itself to fail early.
inline void check_abi() {
  static const uint32_t library_abi = ergon_abi_version();
  if (library_abi != static_cast<uint32_t>(ERGON_ABI_VERSION)) {
    throw AbiMismatch(library_abi, static_cast<uint32_t>(ERGON_ABI_VERSION));
  }
}

namespace detail {

// Reads a message with "ask the length, then fill"; `read(buf, cap, len)` is one of the
// *_last_error functions bound to its handle. Returns an empty string if it cannot be read.
template <class Read> std::string read_message(Read read) {
  size_t len = 0;
  if (read(nullptr, 0, &len) != ERGON_STATUS_OK) {
    return std::string();
  }
  std::string text(len + 1, '\0');
  if (read(&text[0], text.size(), &len) != ERGON_STATUS_OK) {
    return std::string();
  }
  text.resize(len);
  return text;
}

// The last_error function of each handle type: the one thing check() needs to know per type.
#define ERGON_HPP_LAST_ERROR(T)                                                               \
  inline ergon_status last_error(const T *handle, char *buf, size_t cap, size_t *len) {       \
    return T##_last_error(handle, buf, cap, len);                                             \
  }
ERGON_HPP_LAST_ERROR(ergon_perseus_frontier)
ERGON_HPP_LAST_ERROR(ergon_perseus_plan)
ERGON_HPP_LAST_ERROR(ergon_dpk_workload)
ERGON_HPP_LAST_ERROR(ergon_dpk_result)
ERGON_HPP_LAST_ERROR(ergon_orloj_batcher)
ERGON_HPP_LAST_ERROR(ergon_orloj_simulation)
ERGON_HPP_LAST_ERROR(ergon_chase_forecaster)
ERGON_HPP_LAST_ERROR(ergon_gpu_executor)
ERGON_HPP_LAST_ERROR(ergon_gpu_energy_monitor)
ERGON_HPP_LAST_ERROR(ergon_gpu_profiler)
ERGON_HPP_LAST_ERROR(ergon_zeus_power_limit_optimizer)
ERGON_HPP_LAST_ERROR(ergon_zeus_batch_size_optimizer)
ERGON_HPP_LAST_ERROR(ergon_oobleck_templates)
ERGON_HPP_LAST_ERROR(ergon_oobleck_plan)
ERGON_HPP_LAST_ERROR(ergon_auxo_clusterer)
#undef ERGON_HPP_LAST_ERROR

// The message of the last failed call on `handle` (empty for nullptr or none).
template <class Handle> std::string handle_message(const Handle *handle) {
  if (handle == nullptr) {
    return std::string();
  }
  return read_message([handle](char *buf, size_t cap, size_t *len) {
    return last_error(handle, buf, cap, len);
  });
}

// Throws Error for a failed `status`, with the handle's message if there is one (`handle` is
// what the call was made on; void for calls without one), else this thread's, else the
// status's description.
template <class Handle = void>
void check(ergon_status status, const Handle *handle = nullptr) {
  if (status == ERGON_STATUS_OK) {
    return;
  }
  std::string message;
  if constexpr (!std::is_void_v<Handle>) {
    message = handle_message(handle);
  }
  if (message.empty()) {
    message = read_message(
        [](char *buf, size_t cap, size_t *len) { return ergon_last_error(buf, cap, len); });
  }
  if (message.empty()) {
    message = ergon_status_str(status);
  }
  throw Error(status, message);
}

// Copies an array with "ask the length, then fill"; `fill(buf, cap, len)` calls the C function
// on `handle` (void for calls without one), which names where the message is.
template <class T, class Fill, class Handle = void>
std::vector<T> items(Fill fill, const Handle *handle = nullptr) {
  size_t len = 0;
  check(fill(nullptr, 0, &len), handle);
  std::vector<T> out(len);
  if (len > 0) {
    check(fill(out.data(), out.size(), &len), handle);
    out.resize(len);
  }
  return out;
}

// Copies text with "ask the length, then fill"; `fill(buf, cap, len)` calls the C function.
template <class Fill, class Handle = void>
std::string text(Fill fill, const Handle *handle = nullptr) {
  size_t len = 0;
  check(fill(nullptr, 0, &len), handle);
  std::string out(len + 1, '\0');
  check(fill(&out[0], out.size(), &len), handle);
  out.resize(len);
  return out;
}

// One value written by a C call through its output pointer: `call(&out)`.
template <class T, class Call, class Handle = void>
T value(Call call, const Handle *handle = nullptr) {
  T out{};
  check(call(&out), handle);
  return out;
}

// The pointer of a string passed in as pointer and length: an empty view may have a NULL
// data(), which the C ABI would refuse with NULL_POINTER; "" is an empty string to it.
inline const char *text_arg(std::string_view text) noexcept {
  return text.empty() ? "" : text.data();
}

// The name of `code` in a C enumeration, as the library spells it: `name` is one of the
// ergon_<system>_<enum>_name functions.
inline std::string code_name(ergon_status (*name)(uint32_t, char *, size_t, size_t *),
                             uint32_t code) {
  check_abi();
  return text([name, code](char *buf, size_t cap, size_t *len) {
    return name(code, buf, cap, len);
  });
}

// The code of the value called `name` (Error INVALID_ARGUMENT, listing the accepted names, for
// any other): `parse` is one of the ergon_<system>_<enum>_parse functions.
inline uint32_t name_code(ergon_status (*parse)(const char *, size_t, uint32_t *),
                          std::string_view name) {
  check_abi();
  return value<uint32_t>(
      [parse, name](uint32_t *out) { return parse(text_arg(name), name.size(), out); });
}

// `<value>_name(code)` and `<value>_code(name)` of the C enumeration ERGON_<SYSTEM>_<VALUE>_*,
// in the namespace of `system`.
#define ERGON_HPP_NAMES(system, value)                                                        \
  inline std::string value##_name(uint32_t code) {                                            \
    return detail::code_name(ergon_##system##_##value##_name, code);                          \
  }                                                                                           \
  inline uint32_t value##_code(std::string_view name) {                                       \
    return detail::name_code(ergon_##system##_##value##_parse, name);                         \
  }

// A NUL-terminated field of ergon_gpu_device_info, without reading past its end.
inline std::string fixed_text(const char (&field)[ERGON_GPU_TEXT_CAP]) {
  const void *nul = std::memchr(field, '\0', sizeof field);
  size_t len = nul == nullptr ? sizeof field
                              : static_cast<size_t>(static_cast<const char *>(nul) - field);
  return std::string(field, len);
}

// Owns one handle of type T, released by Free: move-only; the destructor frees. A moved-from
// (or released, or closed) owner holds nullptr, on which every C call fails with
// ERGON_STATUS_NULL_POINTER, so the methods of the class built on it throw Error with that
// status. The classes of this header derive from it.
template <class T, void (*Free)(T *)> class Owner {
public:
  // Takes ownership of `handle` (may be nullptr).
  explicit Owner(T *handle) noexcept : handle_(handle) {}
  Owner(const Owner &) = delete;
  Owner &operator=(const Owner &) = delete;
  Owner(Owner &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Owner &operator=(Owner &&other) noexcept {
    if (this != &other) {
      free_handle(std::exchange(handle_, std::exchange(other.handle_, nullptr)));
    }
    return *this;
  }
  ~Owner() { free_handle(handle_); }

  // The message of the last failed call on this handle (empty if none, or no handle).
  std::string last_error() const { return handle_message(handle_); }

  const T *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must free the handle with the C function.
  T *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

protected:
  // Frees the handle now; the owner holds nullptr afterwards.
  void reset() noexcept { free_handle(std::exchange(handle_, nullptr)); }

  // A new handle from a C constructor taking an input struct, e.g. ergon_perseus_frontier_new,
  // after the ABI check (throws instead of returning nullptr).
  template <class Input>
  static T *make(ergon_status (*construct)(const Input *, T **), const Input &input) {
    check_abi();
    T *out = nullptr;
    check(construct(&input, &out));
    return out;
  }
  // The same from a document, e.g. ergon_dpk_workload_from_json.
  static T *make(ergon_status (*construct)(const char *, size_t, T **),
                 std::string_view document) {
    check_abi();
    T *out = nullptr;
    check(construct(text_arg(document), document.size(), &out));
    return out;
  }

  // What a C getter of this handle writes: `get(handle, &out)`, e.g. ergon_dpk_result_summary.
  template <class U> U read_value(ergon_status (*get)(const T *, U *)) const {
    return value<U>([this, get](U *out) { return get(handle_, out); }, handle_);
  }
  // The same for a getter of item `index` of this handle, e.g. ergon_perseus_frontier_point.
  template <class U>
  U read_value(ergon_status (*get)(const T *, size_t, U *), size_t index) const {
    return value<U>([this, get, index](U *out) { return get(handle_, index, out); }, handle_);
  }
  // An array of this handle, read with "ask the length, then fill": `fill(handle, buf, cap,
  // len)`, e.g. ergon_dpk_result_allocated.
  template <class U>
  std::vector<U> read_items(ergon_status (*fill)(const T *, U *, size_t, size_t *)) const {
    return items<U>(
        [this, fill](U *buf, size_t cap, size_t *len) { return fill(handle_, buf, cap, len); },
        handle_);
  }
  // A text of this handle, read the same way, e.g. with ergon_dpk_result_to_json.
  std::string read_text(ergon_status (*fill)(const T *, char *, size_t, size_t *)) const {
    return text([this, fill](char *buf, size_t cap,
                             size_t *len) { return fill(handle_, buf, cap, len); },
                handle_);
  }

  T *handle_;

private:
  // Calls no library function for nullptr: an object whose constructor threw (AbiMismatch
  // included) holds none, and a library that failed the ABI check is not to be called.
  static void free_handle(T *handle) noexcept {
    if (handle != nullptr) {
      Free(handle);
    }
  }
};

} // namespace detail

// --- Perseus: the energy frontier -----------------------------------------------------------

namespace perseus {

// Names of ERGON_PERSEUS_SCHEDULE_*, _KIND_* and _EFFECTIVE_ENERGY_* codes and back:
// schedule_name(ERGON_PERSEUS_SCHEDULE_GPIPE) == "gpipe", kind_code("backward"), ...
ERGON_HPP_NAMES(perseus, schedule)
ERGON_HPP_NAMES(perseus, kind)
ERGON_HPP_NAMES(perseus, effective_energy)

// One computation of a stage's program: set the SM clock to `freq_mhz`, then run it.
struct Step {
  uint32_t kind; // ERGON_PERSEUS_KIND_FORWARD or ERGON_PERSEUS_KIND_BACKWARD
  uint32_t freq_mhz;
};

inline bool operator==(const Step &a, const Step &b) {
  return a.kind == b.kind && a.freq_mhz == b.freq_mhz;
}
inline bool operator!=(const Step &a, const Step &b) { return !(a == b); }

// A frequency plan (owns an ergon_perseus_plan handle; made by Frontier::plan, or from a
// handle of ergon_perseus_frontier_plan). Move-only: see detail::Owner.
class Plan : public detail::Owner<ergon_perseus_plan, ergon_perseus_plan_free> {
public:
  using Owner::Owner;

  // Iteration time, energy (including waiting for a deadline plan) and number of stages.
  ergon_perseus_plan_info summary() const { return read_value(ergon_perseus_plan_summary); }

  size_t num_stages() const { return summary().num_stages; }

  // Stage `stage`'s program for one iteration, in order.
  std::vector<Step> stage(size_t stage) const {
    size_t len = 0;
    detail::check(ergon_perseus_plan_stage(handle_, stage, nullptr, nullptr, 0, &len),
                  handle_);
    std::vector<uint32_t> kinds(len), freqs(len);
    if (len > 0) {
      detail::check(
          ergon_perseus_plan_stage(handle_, stage, kinds.data(), freqs.data(), len, &len),
          handle_);
    }
    std::vector<Step> steps;
    steps.reserve(len);
    for (size_t i = 0; i < len; ++i) {
      steps.push_back(Step{kinds[i], freqs[i]});
    }
    return steps;
  }

  // The plan as ergon-plan/v1 JSON.
  std::string to_json() const { return read_text(ergon_perseus_plan_to_json); }

  // From an ergon-plan/v1 JSON document (what to_json writes; how a plan solved on a planner
  // process reaches the others).
  static Plan from_json(std::string_view json) {
    return Plan(make(ergon_perseus_plan_from_json, json));
  }
};

// A frontier problem and, once solved, its frontier (owns an ergon_perseus_frontier handle).
// Move-only: see detail::Owner.
class Frontier : public detail::Owner<ergon_perseus_frontier, ergon_perseus_frontier_free> {
public:
  // Takes ownership of a handle from ergon_perseus_frontier_new / _from_* (may be nullptr).
  using Owner::Owner;

  // From arrays (everything `problem` points to is only read during the call).
  explicit Frontier(const ergon_perseus_problem &problem)
      : Owner(make(ergon_perseus_frontier_new, problem)) {}

  // From a perseus-instance/v1 JSON document.
  static Frontier from_instance_json(std::string_view json) {
    return Frontier(make(ergon_perseus_frontier_from_instance_json, json));
  }

  // From a zeus profile CSV (stage,instruction,frequency,time,energy) and a pipeline.
  static Frontier
  from_profile_csv(std::string_view csv, const ergon_perseus_pipeline &pipeline,
                   double unit_time_s, double p_blocking_w,
                   uint32_t effective_energy = ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER) {
    check_abi();
    ergon_perseus_frontier *h = nullptr;
    detail::check(ergon_perseus_frontier_from_profile_csv(detail::text_arg(csv), csv.size(),
                                                          &pipeline, unit_time_s, p_blocking_w,
                                                          effective_energy, &h));
    return Frontier(h);
  }

  // Solves the frontier (once; a second call throws with ERGON_STATUS_INVALID_STATE). If the
  // frontier stops before T_min, summary().complete is false and last_error() says why.
  void solve() { detail::check(ergon_perseus_frontier_solve(handle_), handle_); }

  // Solves with a bound (ERGON_PERSEUS_STOP_T_MIN, _T_STAR, or _TIME down to `stop_time_s`) and
  // an optional progress callback, called as progress(points_done, points_total) after every
  // point on this thread; returning false stops the solve there (the frontier is then
  // incomplete). An exception thrown by the callback stops the solve and is rethrown here
  // (it never crosses the C library).
  void solve(const std::function<bool(uint64_t, uint64_t)> &progress,
             uint32_t stop = ERGON_PERSEUS_STOP_T_MIN, double stop_time_s = 0.0) {
    struct Context {
      const std::function<bool(uint64_t, uint64_t)> *progress;
      std::exception_ptr error;
    } context{&progress, nullptr};
    ergon_perseus_solve_options options = ergon_perseus_solve_options_default();
    options.stop = stop;
    options.stop_time_s = stop_time_s;
    if (progress) {
      options.user_data = &context;
      options.progress = [](void *user_data, uint64_t done, uint64_t total) -> int {
        auto *c = static_cast<Context *>(user_data);
        try {
          return (*c->progress)(done, total) ? 0 : 1;
        } catch (...) {
          c->error = std::current_exception();
          return 1;
        }
      };
    }
    ergon_status status = ergon_perseus_frontier_solve_with_options(handle_, &options);
    if (context.error) {
      std::rethrow_exception(context.error);
    }
    detail::check(status, handle_);
  }

  size_t num_points() const { return read_value(ergon_perseus_frontier_num_points); }

  // Point `index` (0 is the slowest).
  ergon_perseus_point point(size_t index) const {
    return read_value(ergon_perseus_frontier_point, index);
  }

  // All points, slowest first.
  std::vector<ergon_perseus_point> points() const {
    return read_items(ergon_perseus_frontier_points);
  }

  // T_min, T_max, T* and the other facts of the solved frontier.
  ergon_perseus_summary summary() const { return read_value(ergon_perseus_frontier_summary); }

  // The solved frontier as ergon-frontier/v1 JSON.
  std::string to_json() const { return read_text(ergon_perseus_frontier_to_json); }

  // A plan: `at` is ERGON_PERSEUS_PLAN_FASTEST, ERGON_PERSEUS_PLAN_T_STAR or
  // ERGON_PERSEUS_PLAN_DEADLINE (then with `deadline_s`). The plan does not borrow the
  // frontier.
  Plan plan(uint32_t at, double deadline_s = 0.0) const {
    ergon_perseus_plan *p = nullptr;
    detail::check(ergon_perseus_frontier_plan(handle_, at, deadline_s, &p), handle_);
    return Plan(p);
  }
  Plan plan_fastest() const { return plan(ERGON_PERSEUS_PLAN_FASTEST); }
  Plan plan_t_star() const { return plan(ERGON_PERSEUS_PLAN_T_STAR); }
  // Least energy when a straggler sets the iteration time to `deadline_s` (waiting included).
  Plan plan_for_deadline(double deadline_s) const {
    return plan(ERGON_PERSEUS_PLAN_DEADLINE, deadline_s);
  }
};

} // namespace perseus

// --- DPK: privacy-budget scheduling ---------------------------------------------------------

namespace dpk {

// Names of ERGON_DPK_SCHEDULER_*, _KNAPSACK_*, _DPF_CAPACITY_* and _CONVERSION_* codes and
// back: scheduler_name(ERGON_DPK_SCHEDULER_FCFS) == "fcfs", conversion_code("tight"), ...
ERGON_HPP_NAMES(dpk, scheduler)
ERGON_HPP_NAMES(dpk, knapsack)
ERGON_HPP_NAMES(dpk, dpf_capacity)
ERGON_HPP_NAMES(dpk, conversion)

// An offline schedule (owns an ergon_dpk_result handle; it does not borrow its workload).
// Move-only: see detail::Owner.
class Result : public detail::Owner<ergon_dpk_result, ergon_dpk_result_free> {
public:
  // Takes ownership of a handle from ergon_dpk_workload_schedule (may be nullptr).
  using Owner::Owner;

  // The scheduler, number allocated, total weight, sizes, and for ERGON_DPK_SCHEDULER_OPTIMAL
  // the bound.
  ergon_dpk_result_info summary() const { return read_value(ergon_dpk_result_summary); }

  // Ids of the allocated tasks, in allocation order.
  std::vector<uint64_t> allocated() const { return read_items(ergon_dpk_result_allocated); }

  // Ids of the blocks, in workload order (the rows of remaining()).
  std::vector<uint64_t> block_ids() const { return read_items(ergon_dpk_result_block_ids); }

  // Remaining budget, block by block and order by order (blocks × orders values).
  std::vector<double> remaining() const { return read_items(ergon_dpk_result_remaining); }

  // The schedule as dpk-result/v1 JSON.
  std::string to_json() const { return read_text(ergon_dpk_result_to_json); }
};

// A validated DPK workload: RDP orders, blocks and tasks (owns an ergon_dpk_workload handle).
// Move-only: see detail::Owner.
class Workload : public detail::Owner<ergon_dpk_workload, ergon_dpk_workload_free> {
public:
  // Takes ownership of a handle from ergon_dpk_workload_new / _from_json (may be nullptr).
  using Owner::Owner;

  // From arrays (everything `problem` points to is only read during the call).
  explicit Workload(const ergon_dpk_problem &problem)
      : Owner(make(ergon_dpk_workload_new, problem)) {}

  // From a dpk-workload/v1 JSON document.
  static Workload from_json(std::string_view json) {
    return Workload(make(ergon_dpk_workload_from_json, json));
  }

  // Numbers of orders, blocks and tasks.
  ergon_dpk_workload_info summary() const { return read_value(ergon_dpk_workload_summary); }

  // The RDP orders.
  std::vector<double> alphas() const { return read_items(ergon_dpk_workload_alphas); }

  // The workload as dpk-workload/v1 JSON (explicit capacities and demands).
  std::string to_json() const { return read_text(ergon_dpk_workload_to_json); }

  // Schedules the tasks offline (the workload is not modified).
  Result schedule(const ergon_dpk_options &options) const {
    ergon_dpk_result *r = nullptr;
    detail::check(ergon_dpk_workload_schedule(handle_, &options, &r), handle_);
    return Result(r);
  }
  // With the default options and `scheduler` (ERGON_DPK_SCHEDULER_DPK, _DPF, _FCFS, _AREA,
  // _OPTIMAL).
  Result schedule(uint32_t scheduler = ERGON_DPK_SCHEDULER_DPK) const {
    ergon_dpk_options o = ergon_dpk_options_default();
    o.scheduler = scheduler;
    return schedule(o);
  }
};

// The Rényi-DP helpers below fail with Error carrying the thread's message.

// The 12 standard orders of the DPack paper.
inline std::vector<double> standard_alphas() {
  check_abi();
  return detail::items<double>(ergon_dpk_alphas_standard);
}

// dp-accounting's default grid of 156 orders (1.1 to 10.9 by 0.1, 11 to 63, 128, 256, 512,
// 1024), for accounting; the helpers take up to ERGON_DPK_MAX_ACCOUNTING_ORDERS orders, a
// workload at most 16.
inline std::vector<double> dense_alphas() {
  check_abi();
  return detail::items<double>(ergon_dpk_alphas_dense);
}

// Capacity of a block with global budget (epsilon, delta) at each order, as the inverse of
// `conversion` (ERGON_DPK_CONVERSION_CLASSIC or ERGON_DPK_CONVERSION_TIGHT); 0 where nothing
// can be certified.
inline std::vector<double> block_capacity(const std::vector<double> &alphas, double epsilon,
                                          double delta,
                                          uint32_t conversion = ERGON_DPK_CONVERSION_CLASSIC) {
  check_abi();
  return detail::items<double>([&](double *buf, size_t cap, size_t *len) {
    return ergon_dpk_block_capacity_with(alphas.data(), alphas.size(), epsilon, delta,
                                         conversion, buf, cap, len);
  });
}

// RDP curve of the Gaussian mechanism with standard deviation sigma.
inline std::vector<double> gaussian(const std::vector<double> &alphas, double sigma) {
  check_abi();
  return detail::items<double>([&](double *buf, size_t cap, size_t *len) {
    return ergon_dpk_curve_gaussian(alphas.data(), alphas.size(), sigma, buf, cap, len);
  });
}

// RDP curve of the Laplace mechanism with scale b (b = 1/epsilon for epsilon-DP).
inline std::vector<double> laplace(const std::vector<double> &alphas, double b) {
  check_abi();
  return detail::items<double>([&](double *buf, size_t cap, size_t *len) {
    return ergon_dpk_curve_laplace(alphas.data(), alphas.size(), b, buf, cap, len);
  });
}

// RDP curve of DP-SGD: Poisson rate q, noise multiplier sigma, `steps` steps.
inline std::vector<double> subsampled_gaussian(const std::vector<double> &alphas, double q,
                                               double sigma, double steps) {
  check_abi();
  return detail::items<double>([&](double *buf, size_t cap, size_t *len) {
    return ergon_dpk_curve_subsampled_gaussian(alphas.data(), alphas.size(), q, sigma, steps,
                                               buf, cap, len);
  });
}

// Upper bound on the RDP curve of the Poisson-subsampled Laplace mechanism: rate q, scale b,
// `steps` steps.
inline std::vector<double> subsampled_laplace(const std::vector<double> &alphas, double q,
                                              double b, double steps) {
  check_abi();
  return detail::items<double>([&](double *buf, size_t cap, size_t *len) {
    return ergon_dpk_curve_subsampled_laplace(alphas.data(), alphas.size(), q, b, steps, buf,
                                              cap, len);
  });
}

// Composition of RDP curves on one grid, order by order: sum of counts[i] * curves[i]
// (`counts` empty: one run of each). Curves of different lengths, or counts of another size
// than the curves, throw ERGON_STATUS_INVALID_ARGUMENT; so do no curves (the grid is unknown).
inline std::vector<double> compose(const std::vector<std::vector<double>> &curves,
                                   const std::vector<double> &counts = {}) {
  check_abi();
  const size_t num_alphas = curves.empty() ? 0 : curves.front().size();
  std::vector<double> rows;
  rows.reserve(curves.size() * num_alphas);
  for (size_t i = 0; i < curves.size(); ++i) {
    if (curves[i].size() != num_alphas) {
      throw Error(ERGON_STATUS_INVALID_ARGUMENT,
                  "ergon::dpk::compose: curve " + std::to_string(i) + " has " +
                      std::to_string(curves[i].size()) + " values, curve 0 has " +
                      std::to_string(num_alphas));
    }
    rows.insert(rows.end(), curves[i].begin(), curves[i].end());
  }
  if (!counts.empty() && counts.size() != curves.size()) {
    throw Error(ERGON_STATUS_INVALID_ARGUMENT,
                "ergon::dpk::compose: " + std::to_string(counts.size()) + " counts for " +
                    std::to_string(curves.size()) + " curves");
  }
  const double *counts_ptr = counts.empty() ? nullptr : counts.data();
  return detail::items<double>([&](double *buf, size_t cap, size_t *len) {
    return ergon_dpk_curve_compose(rows.data(), curves.size(), num_alphas, counts_ptr, buf,
                                   cap, len);
  });
}

// Sigma of the Gaussian mechanism calibrated to (epsilon, delta) exactly (the analytic
// Gaussian mechanism of Balle & Wang 2018; any epsilon >= 0).
inline double gaussian_sigma(double epsilon, double delta) {
  check_abi();
  return detail::value<double>(
      [&](double *out) { return ergon_dpk_gaussian_sigma(epsilon, delta, out); });
}

// Sigma by the classic bound sqrt(2 ln(1.25/delta)) / epsilon; epsilon >= 1 throws
// ERGON_STATUS_INVALID_ARGUMENT (the bound proves nothing there).
inline double gaussian_sigma_classic(double epsilon, double delta) {
  check_abi();
  return detail::value<double>(
      [&](double *out) { return ergon_dpk_gaussian_sigma_classic(epsilon, delta, out); });
}

// The exact delta at which the Gaussian mechanism with standard deviation sigma is
// (epsilon, delta)-DP.
inline double gaussian_delta(double sigma, double epsilon) {
  check_abi();
  return detail::value<double>(
      [&](double *out) { return ergon_dpk_gaussian_delta(sigma, epsilon, out); });
}

// (epsilon, delta)-DP of an RDP curve, and the index of the order that attains it.
struct Conversion {
  double epsilon;
  size_t alpha_index;
};

// `conversion`: ERGON_DPK_CONVERSION_CLASSIC or ERGON_DPK_CONVERSION_TIGHT.
inline Conversion dp_epsilon(const std::vector<double> &alphas,
                             const std::vector<double> &curve, double delta,
                             uint32_t conversion = ERGON_DPK_CONVERSION_CLASSIC) {
  check_abi();
  Conversion out{0.0, 0};
  detail::check(ergon_dpk_curve_dp_epsilon(alphas.data(), alphas.size(), curve.data(),
                                           curve.size(), delta, conversion, &out.epsilon,
                                           &out.alpha_index));
  return out;
}

// The smallest delta that an RDP curve certifies for a given epsilon, and the index of the
// order that attains it.
struct DeltaConversion {
  double delta;
  size_t alpha_index;
};

// `conversion`: ERGON_DPK_CONVERSION_CLASSIC or ERGON_DPK_CONVERSION_TIGHT.
inline DeltaConversion dp_delta(const std::vector<double> &alphas,
                                const std::vector<double> &curve, double epsilon,
                                uint32_t conversion = ERGON_DPK_CONVERSION_CLASSIC) {
  check_abi();
  DeltaConversion out{0.0, 0};
  detail::check(ergon_dpk_curve_dp_delta(alphas.data(), alphas.size(), curve.data(),
                                         curve.size(), epsilon, conversion, &out.delta,
                                         &out.alpha_index));
  return out;
}

} // namespace dpk

// --- Orloj batching -------------------------------------------------------------------------

namespace orloj {

// Names of ERGON_ORLOJ_ESTIMATE_* codes and back.
ERGON_HPP_NAMES(orloj, estimate)

// A policy and the point estimate it decides on (ERGON_ORLOJ_POLICY_*, ERGON_ORLOJ_ESTIMATE_*),
// as ergon_orloj_batcher_options holds them.
struct Policy {
  uint32_t policy;
  uint32_t estimate;
};

// A policy's name as orloj-sim/v1 spells it: policy_name({ERGON_ORLOJ_POLICY_EDF,
// ERGON_ORLOJ_ESTIMATE_P99}) == "edf-p99"; Orloj and Clipper take no estimate.
inline std::string policy_name(Policy p) {
  check_abi();
  return detail::text([p](char *buf, size_t cap, size_t *len) {
    return ergon_orloj_policy_name(p.policy, p.estimate, buf, cap, len);
  });
}

// The policy called `name` ("orloj", "clockwork-p99", ...; Error INVALID_ARGUMENT listing the
// accepted names for any other).
inline Policy policy_code(std::string_view name) {
  check_abi();
  Policy p{};
  detail::check(ergon_orloj_policy_parse(detail::text_arg(name), name.size(), &p.policy,
                                         &p.estimate));
  return p;
}

// One application of a Batcher: its SLO and execution-time law (ergon_orloj_app with an owned
// name and samples). Build one with the static functions.
struct App {
  std::string name;                              // for messages; empty: "app <index>"
  double slo_s = 0.0;                            // latency SLO, seconds (> 0)
  uint32_t kind = ERGON_ORLOJ_EXEC_CONSTANT;     // ERGON_ORLOJ_EXEC_*
  double value_s = 0.0;                          // constant
  double low_s = 0.0, high_s = 0.0, p_low = 0.0; // bimodal (early exit)
  double mean_s = 0.0, cv = 0.0;                 // lognormal
  std::vector<double> samples_s;                 // samples

  static App constant(std::string name, double slo_s, double value_s) {
    App a = base(std::move(name), slo_s, ERGON_ORLOJ_EXEC_CONSTANT);
    a.value_s = value_s;
    return a;
  }
  // `low_s` with probability `p_low`, else `high_s`.
  static App bimodal(std::string name, double slo_s, double low_s, double high_s,
                     double p_low) {
    App a = base(std::move(name), slo_s, ERGON_ORLOJ_EXEC_BIMODAL);
    a.low_s = low_s;
    a.high_s = high_s;
    a.p_low = p_low;
    return a;
  }
  static App lognormal(std::string name, double slo_s, double mean_s, double cv) {
    App a = base(std::move(name), slo_s, ERGON_ORLOJ_EXEC_LOGNORMAL);
    a.mean_s = mean_s;
    a.cv = cv;
    return a;
  }
  // Uniform over measured times.
  static App samples(std::string name, double slo_s, std::vector<double> values_s) {
    App a = base(std::move(name), slo_s, ERGON_ORLOJ_EXEC_SAMPLES);
    a.samples_s = std::move(values_s);
    return a;
  }

  // The C view; borrows this object's name and samples.
  ergon_orloj_app raw() const noexcept {
    ergon_orloj_app r{};
    r.name = name.empty() ? nullptr : name.data();
    r.name_len = name.size();
    r.slo_s = slo_s;
    r.kind = kind;
    r.value_s = value_s;
    r.low_s = low_s;
    r.high_s = high_s;
    r.p_low = p_low;
    r.mean_s = mean_s;
    r.cv = cv;
    r.samples_s = samples_s.empty() ? nullptr : samples_s.data();
    r.num_samples = samples_s.size();
    return r;
  }

private:
  static App base(std::string name, double slo_s, uint32_t kind) {
    App a;
    a.name = std::move(name);
    a.slo_s = slo_s;
    a.kind = kind;
    return a;
  }
};

// What Batcher::next_batch decided. Reuse one object across calls: its vectors keep their
// capacity, so deciding does not allocate once they have grown.
struct Decision {
  std::vector<uint64_t> batch;   // run these now, as one batch (empty: wait)
  std::vector<uint64_t> dropped; // hopeless or expired: answer them as missed
  double expected_time_s = 0.0;  // expected batch time (0 if not asked for, or no batch)
};

// The Orloj online batcher (owns an ergon_orloj_batcher handle). Move-only: see detail::Owner.
class Batcher : public detail::Owner<ergon_orloj_batcher, ergon_orloj_batcher_free> {
public:
  // Takes ownership of a handle from ergon_orloj_batcher_new / _from_json (may be nullptr).
  using Owner::Owner;

  // Applications (index = id in the other calls), the largest batch, the batch-size factors
  // s(1..max_batch) (empty: all 1) and the options (policy, grid, p_min, decay...; without
  // them, the library's defaults).
  Batcher(const std::vector<App> &apps, size_t max_batch,
          const std::vector<double> &scale = {})
      : Batcher(apps, max_batch, scale, default_options()) {}
  Batcher(const std::vector<App> &apps, size_t max_batch, const std::vector<double> &scale,
          const ergon_orloj_batcher_options &options)
      : Owner(nullptr) {
    check_abi();
    if (!scale.empty() && scale.size() != max_batch) {
      throw Error(ERGON_STATUS_INVALID_PROBLEM,
                  "ergon::orloj::Batcher: " + std::to_string(scale.size()) +
                      " scale factors for max_batch " + std::to_string(max_batch) +
                      ": give one per batch size");
    }
    std::vector<ergon_orloj_app> raw;
    raw.reserve(apps.size());
    for (const App &a : apps) {
      raw.push_back(a.raw());
    }
    detail::check(ergon_orloj_batcher_new(raw.empty() ? nullptr : raw.data(), raw.size(),
                                          scale.empty() ? nullptr : scale.data(), max_batch,
                                          &options, &handle_));
  }

  // The workload of an orloj-sim/v1 document; `policy` as in its "policies" ("orloj",
  // "clockwork-p99", ...), empty for the document's first.
  static Batcher from_json(std::string_view json, std::string_view policy = {}) {
    check_abi();
    ergon_orloj_batcher *h = nullptr;
    detail::check(ergon_orloj_batcher_from_json(detail::text_arg(json), json.size(),
                                                policy.data(), policy.size(), &h));
    return Batcher(h);
  }

  // Queues request `id` of application `app`, due by `deadline_s` (absolute seconds).
  void enqueue(size_t app, uint64_t id, double arrival_s, double deadline_s) {
    detail::check(ergon_orloj_batcher_enqueue(handle_, app, id, arrival_s, deadline_s),
                  handle_);
  }
  // The same, due at arrival + the application's SLO.
  void enqueue(size_t app, uint64_t id, double arrival_s) {
    detail::check(ergon_orloj_batcher_enqueue_slo(handle_, app, id, arrival_s), handle_);
  }

  // Decides at `now_s` into `out` (sized here: no allocation once its vectors have grown).
  // `expected_time` asks for the batch's expected time, which costs one allocation.
  void next_batch(double now_s, Decision &out, bool expected_time = true) {
    out.batch.resize(max_batch_size());
    size_t waiting = queued();
    if (out.dropped.size() < waiting) {
      out.dropped.resize(waiting);
    }
    size_t nb = 0, nd = 0;
    double t = 0.0;
    ergon_status s = call_next(now_s, out, &nb, &nd, expected_time ? &t : nullptr);
    if (s == ERGON_STATUS_BUFFER_TOO_SMALL) {
      // A decision kept from an earlier short-buffer call through the C API: take it now.
      out.batch.resize(std::max(nb, out.batch.size()));
      out.dropped.resize(std::max(nd, out.dropped.size()));
      s = call_next(now_s, out, &nb, &nd, expected_time ? &t : nullptr);
    }
    detail::check(s, handle_);
    out.batch.resize(nb);
    out.dropped.resize(nd);
    out.expected_time_s = t;
  }
  Decision next_batch(double now_s) {
    Decision d;
    next_batch(now_s, d);
    return d;
  }

  // One request of `app` took `observed_time_s` alone: updates the app's distribution.
  void complete(size_t app, double observed_time_s) {
    detail::check(ergon_orloj_batcher_complete(handle_, app, observed_time_s), handle_);
  }
  // The last batch took `batch_time_s` (Clipper's AIMD feedback).
  void batch_done(double batch_time_s) {
    detail::check(ergon_orloj_batcher_batch_done(handle_, batch_time_s), handle_);
  }

  size_t queued() const { return read_value(ergon_orloj_batcher_queued); }
  size_t max_batch_size() const { return read_value(ergon_orloj_batcher_max_batch_size); }
  size_t num_apps() const { return read_value(ergon_orloj_batcher_num_apps); }
  // SLO, mean and p99 of the app's current law, completions reported.
  ergon_orloj_app_stats app_stats(size_t app) const {
    return read_value(ergon_orloj_batcher_app_stats, app);
  }
  std::string policy_name() const { return read_text(ergon_orloj_batcher_policy_name); }

private:
  // The library's default options (after the ABI check: a default argument would ask first).
  static ergon_orloj_batcher_options default_options() {
    check_abi();
    return ergon_orloj_batcher_options_default();
  }

  ergon_status call_next(double now_s, Decision &out, size_t *nb, size_t *nd, double *t) {
    return ergon_orloj_batcher_next_batch(handle_, now_s, out.batch.data(), out.batch.size(),
                                          nb, out.dropped.data(), out.dropped.size(), nd, t);
  }
};

// Runs an orloj-sim/v1 simulation; returns the orloj-result/v1 JSON (as `ergon orloj
// simulate --config FILE --json` prints it).
inline std::string simulate_json(std::string_view config) {
  // A simulation handle is only read once, here: an owner frees it when the text is read.
  struct Simulation : detail::Owner<ergon_orloj_simulation, ergon_orloj_simulation_free> {
    explicit Simulation(std::string_view config)
        : Owner(make(ergon_orloj_simulation_run_json, config)) {}
    std::string to_json() const { return read_text(ergon_orloj_simulation_to_json); }
  };
  return Simulation(config).to_json();
}

} // namespace orloj

namespace chase {

// A carbon-intensity forecaster (docs/chase.md): trained on the `history` slots of
// `hist_g_per_kwh` (gCO2/kWh, one per slot) before slot `start`, it forecasts a later slot from
// the actual intensity of the slot before it. `method` is "ergon" (½ persistence + ½ an
// LS-SVM), "persistence" or "svr-like"; `slots_per_day` the period of the time of day (48 for
// 30-minute slots). Bad arguments throw Error INVALID_ARGUMENT with the library's message.
class Forecaster : public detail::Owner<ergon_chase_forecaster, ergon_chase_forecaster_free> {
public:
  // Takes ownership of a handle from ergon_chase_forecaster_train (may be nullptr).
  using Owner::Owner;

  Forecaster(const std::vector<double> &hist_g_per_kwh, size_t history, size_t start,
             std::string_view method = "ergon", size_t slots_per_day = 48)
      : Owner(nullptr) {
    check_abi();
    detail::check(ergon_chase_forecaster_train(
        hist_g_per_kwh.empty() ? nullptr : hist_g_per_kwh.data(), hist_g_per_kwh.size(),
        history, start, slots_per_day, detail::text_arg(method), method.size(), &handle_));
  }

  // The forecast for `slot` given the actual intensity of `slot - 1`, gCO2/kWh.
  double predict(size_t slot, double prev_g_per_kwh) const {
    return detail::value<double>(
        [this, slot, prev_g_per_kwh](double *out) {
          return ergon_chase_forecaster_predict(handle_, slot, prev_g_per_kwh, out);
        },
        handle_);
  }
};

// One-step-ahead forecasts of every slot from `start` to the end of `hist_g_per_kwh`, each from
// the slots before it (what `ergon chase forecast` prints).
inline std::vector<double> forecast(const std::vector<double> &hist_g_per_kwh, size_t history,
                                    size_t start, std::string_view method = "ergon",
                                    size_t slots_per_day = 48) {
  Forecaster f(hist_g_per_kwh, history, start, method, slots_per_day);
  std::vector<double> out;
  for (size_t t = start; t < hist_g_per_kwh.size(); ++t) {
    out.push_back(f.predict(t, hist_g_per_kwh[t - 1]));
  }
  return out;
}

} // namespace chase

namespace auxo {

// --- Auxo: cohort identification for cross-device federated learning ------------------------

// Options of a Clusterer: ergon_auxo_options_default() with the population and train ratio set
// (set the other fields of the C struct as needed; `split_rounds` is read only by the
// constructor).
inline ergon_auxo_options options(uint64_t clients, double train_ratio) {
  check_abi();
  ergon_auxo_options o = ergon_auxo_options_default();
  o.clients = clients;
  o.train_ratio = train_ratio;
  return o;
}

// The cohort clusterer (docs/auxo.md): after each round of a cohort, step() with the clients
// that reported and their update vectors; cohort_of() says where a client trains next. On a
// split, the server gives cohort `result.split_child` a copy of cohort `result.split_parent`'s
// model. Bad input throws Error (INVALID_ARGUMENT: no participants, NaN, a duplicate id, rows
// of different lengths; OUT_OF_RANGE: an unknown client or cohort) and changes nothing.
// Move-only: see detail::Owner.
class Clusterer : public detail::Owner<ergon_auxo_clusterer, ergon_auxo_clusterer_free> {
public:
  // Takes ownership of a handle from ergon_auxo_clusterer_new (may be nullptr).
  using Owner::Owner;

  explicit Clusterer(const ergon_auxo_options &options) : Owner(nullptr) {
    check_abi();
    detail::check(ergon_auxo_clusterer_new(&options, &handle_));
  }

  // The step of `cohort` with `participants.size()` updates of `dim` floats each, row-major
  // in `updates` (which must hold participants.size() × dim values).
  ergon_auxo_step_result step(uint32_t cohort, const std::vector<uint32_t> &participants,
                              const std::vector<float> &updates, size_t dim) {
    if (dim != 0 && updates.size() != participants.size() * dim) {
      throw Error(ERGON_STATUS_INVALID_ARGUMENT,
                  "updates: " + std::to_string(updates.size()) + " values for " +
                      std::to_string(participants.size()) + " participants of dimension " +
                      std::to_string(dim) + " (need participants x dim)");
    }
    ergon_auxo_step_result out{};
    detail::check(ergon_auxo_clusterer_step(
                      handle_, cohort, participants.empty() ? nullptr : participants.data(),
                      participants.size(), updates.empty() ? nullptr : updates.data(), dim, &out),
                  handle_);
    return out;
  }

  // The step with one row per participant (rows of different lengths throw INVALID_ARGUMENT).
  ergon_auxo_step_result step(uint32_t cohort, const std::vector<uint32_t> &participants,
                              const std::vector<std::vector<float>> &rows) {
    if (rows.size() != participants.size()) {
      throw Error(ERGON_STATUS_INVALID_ARGUMENT,
                  "updates: " + std::to_string(rows.size()) + " rows for " +
                      std::to_string(participants.size()) + " participants (need one row each)");
    }
    size_t dim = rows.empty() ? 0 : rows[0].size();
    std::vector<float> flat;
    flat.reserve(rows.size() * dim);
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].size() != dim) {
        throw Error(ERGON_STATUS_INVALID_ARGUMENT,
                    "updates: ragged rows: row " + std::to_string(i) + " has " +
                        std::to_string(rows[i].size()) + " values, row 0 has " +
                        std::to_string(dim) + " (every update must have the same length)");
      }
      flat.insert(flat.end(), rows[i].begin(), rows[i].end());
    }
    return step(cohort, participants, flat, dim);
  }

  // The cohort `client` trains in next (the epsilon-greedy mapping).
  uint32_t cohort_of(uint32_t client) const {
    return detail::value<uint32_t>(
        [this, client](uint32_t *out) {
          return ergon_auxo_clusterer_cohort_of(handle_, client, out);
        },
        handle_);
  }

  // `client`'s cohort of highest affinity (no exploration): whose model serves it.
  uint32_t best_cohort(uint32_t client) const {
    return detail::value<uint32_t>(
        [this, client](uint32_t *out) {
          return ergon_auxo_clusterer_best_cohort(handle_, client, out);
        },
        handle_);
  }

  uint32_t num_cohorts() const { return read_value(ergon_auxo_clusterer_num_cohorts); }

  // Clients mapped to `cohort`.
  uint64_t members(uint32_t cohort) const {
    return detail::value<uint64_t>(
        [this, cohort](uint64_t *out) {
          return ergon_auxo_clusterer_members(handle_, cohort, out);
        },
        handle_);
  }

  // Every client's cohort (index = client id).
  std::vector<uint32_t> assignment() const {
    return detail::items<uint32_t>(
        [this](uint32_t *buf, size_t cap, size_t *len) {
          return ergon_auxo_clusterer_assignment(handle_, buf, cap, len);
        },
        handle_);
  }
};

} // namespace auxo

// --- GPUs -----------------------------------------------------------------------------------

namespace oobleck {

// --- Oobleck: pipeline templates, f+1 instantiation, reconfiguration ------------------------

// A plan: an instantiation, or a reconfiguration of one (owns an ergon_oobleck_plan handle,
// which keeps its templates alive). Move-only: see detail::Owner.
class Plan : public detail::Owner<ergon_oobleck_plan, ergon_oobleck_plan_free> {
public:
  // Takes ownership of a handle from ergon_oobleck_plan_create / _reconfigure (may be nullptr).
  using Owner::Owner;

  // Pipeline count, iteration time (ms), batch, node count, layer copies.
  ergon_oobleck_plan_info summary() const { return read_value(ergon_oobleck_plan_summary); }

  // Pipeline `index` (node count, microbatches, first node).
  ergon_oobleck_pipeline pipeline(size_t index) const {
    return read_value(ergon_oobleck_plan_pipeline, index);
  }

  // The plan document (a reconfiguration adds "lost" and "transfers"); docs/formats.md.
  std::string to_json() const { return read_text(ergon_oobleck_plan_to_json); }

  // The plan after losing the nodes `lost` (this plan is unchanged). Throws Error with
  // ERGON_STATUS_INVALID_STATE when a layer lost every replica (training must restart).
  Plan reconfigure(const std::vector<uint32_t> &lost) const {
    ergon_oobleck_plan *p = nullptr;
    detail::check(
        ergon_oobleck_plan_reconfigure(handle_, lost.empty() ? nullptr : lost.data(), lost.size(),
                                       &p),
        handle_);
    return Plan(p);
  }
};

// The templates of one profile for every node count in [n0, N] (owns an
// ergon_oobleck_templates handle). Move-only: see detail::Owner.
class Templates : public detail::Owner<ergon_oobleck_templates, ergon_oobleck_templates_free> {
public:
  // Takes ownership of a handle from ergon_oobleck_templates_from_json (may be nullptr).
  using Owner::Owner;

  // From an oobleck-profile/v1 document and the options (ergon_oobleck_options_default()).
  static Templates from_json(std::string_view json, const ergon_oobleck_options &options) {
    check_abi();
    ergon_oobleck_templates *out = nullptr;
    detail::check(ergon_oobleck_templates_from_json(detail::text_arg(json), json.size(),
                                                    &options, &out));
    return Templates(out);
  }

  // n0, template sizes, counts.
  ergon_oobleck_templates_info summary() const {
    return read_value(ergon_oobleck_templates_summary);
  }

  // The template for `num_nodes` nodes (throws OUT_OF_RANGE when there is none).
  ergon_oobleck_template get(uint32_t num_nodes) const {
    return detail::value<ergon_oobleck_template>(
        [this, num_nodes](ergon_oobleck_template *out) {
          return ergon_oobleck_templates_get(handle_, num_nodes, out);
        },
        handle_);
  }

  // The templates document; docs/formats.md.
  std::string to_json() const { return read_text(ergon_oobleck_templates_to_json); }

  // At least f+1 pipelines over all nodes with the exact split of `microbatches`.
  Plan plan(uint32_t fault_tolerance, uint64_t microbatches) const {
    ergon_oobleck_plan *p = nullptr;
    detail::check(ergon_oobleck_plan_create(handle_, fault_tolerance, microbatches, &p), handle_);
    return Plan(p);
  }
};

} // namespace oobleck

namespace gpu {

// What NVML reports about one GPU (ergon_gpu_device_info with std::string fields).
struct Info {
  uint32_t index;        // NVML index (the parent GPU's for a MIG device)
  uint32_t architecture; // nvmlDeviceArchitecture_t: 7 Ampere, 8 Ada, 9 Hopper, ...
  bool is_mig;
  std::string uuid; // "GPU-..." or "MIG-..."
  std::string name; // e.g. "NVIDIA A100-SXM4-40GB"
};

// The number of GPUs NVML sees (MIG devices not counted).
inline uint32_t count() {
  check_abi();
  return detail::value<uint32_t>(ergon_gpu_device_count);
}

// GPU `index` (0 <= index < count(); else ERGON_STATUS_OUT_OF_RANGE).
inline Info info(uint32_t index) {
  check_abi();
  const ergon_gpu_device_info raw = detail::value<ergon_gpu_device_info>(
      [index](ergon_gpu_device_info *out) { return ergon_gpu_device_get_info(index, out); });
  return Info{raw.index, raw.architecture, raw.is_mig, detail::fixed_text(raw.uuid),
              detail::fixed_text(raw.name)};
}

// info() of every GPU, in NVML index order.
inline std::vector<Info> devices() {
  const uint32_t n = count();
  std::vector<Info> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    out.push_back(info(i));
  }
  return out;
}

// Puts back every GPU setting recorded in the GPU state file (what `ergon gpu restore` does
// after a process that changed settings was killed); returns how many were restored (0,
// without loading NVML, when there is no state file).
inline size_t restore() {
  check_abi();
  return detail::value<size_t>(ergon_gpu_state_restore);
}

// Executes one pipeline stage of a plan on a GPU (owns an ergon_gpu_executor handle): the
// constructor sets the power limit to its default and locks the memory and graphics clocks at
// their maxima (needs CAP_SYS_ADMIN); per iteration, instruction_begin() before each
// computation in the plan's order, then step_end() (which asks for the plan's highest clock for
// the work between iterations). The destructor (or close()), or SIGINT/SIGTERM, stops the
// worker and restores every setting the executor changed. Move-only: see detail::Owner.
class PlanExecutor : public detail::Owner<ergon_gpu_executor, ergon_gpu_executor_free> {
public:
  // Takes ownership of a handle from ergon_gpu_executor_new (may be nullptr).
  using Owner::Owner;

  // `device`: an NVML index ("0"), a GPU-/MIG- UUID; `plan` is only read during the call.
  PlanExecutor(std::string_view device, const perseus::Plan &plan, size_t stage)
      : Owner(nullptr) {
    check_abi();
    detail::check(ergon_gpu_executor_new(detail::text_arg(device), device.size(), plan.get(),
                                         stage, &handle_));
  }

  // Before a computation: `kind` (ERGON_PERSEUS_KIND_*) must be the plan's next instruction
  // (else ERGON_STATUS_INVALID_STATE, and nothing advances). Never waits for NVML.
  void instruction_begin(uint32_t kind) {
    detail::check(ergon_gpu_executor_instruction_begin(handle_, kind), handle_);
  }
  // The same with the plan's instruction name: "forward" or "backward".
  void instruction_begin(std::string_view name) {
    uint32_t kind = 0;
    if (name == "forward") {
      kind = ERGON_PERSEUS_KIND_FORWARD;
    } else if (name == "backward") {
      kind = ERGON_PERSEUS_KIND_BACKWARD;
    } else {
      throw Error(ERGON_STATUS_INVALID_ARGUMENT,
                  "ergon::gpu::PlanExecutor::instruction_begin: unknown instruction \"" +
                      std::string(name) + "\" (expected \"forward\" or \"backward\")");
    }
    instruction_begin(kind);
  }

  // After an iteration: rewinds the plan, then throws for an iteration that did not run every
  // planned instruction (INVALID_STATE) or for clock changes the worker failed to make (GPU).
  void step_end() { detail::check(ergon_gpu_executor_step_end(handle_), handle_); }

  // Replaces the plan by stage `stage` of `plan` at an iteration boundary: at once between
  // iterations, else at the next step_end() (no iteration runs part of two plans). `plan` is
  // only read during the call.
  void set_plan(const perseus::Plan &plan, size_t stage) {
    detail::check(ergon_gpu_executor_set_plan(handle_, plan.get(), stage), handle_);
  }

  // Blocks until the worker has handled the latest clock request.
  void wait_applied() { detail::check(ergon_gpu_executor_wait_applied(handle_), handle_); }

  // Stops the worker and restores the settings now (what the destructor does).
  void close() noexcept { reset(); }
};

// One closed energy window.
struct Measurement {
  double time_s = 0.0;   // wall time of the window
  double energy_j = 0.0; // GPU energy over the window
  // Average power, watts (0 for a zero-length window).
  double power_w() const noexcept { return time_s > 0.0 ? energy_j / time_s : 0.0; }
};

class EnergyWindow;

// Measures a GPU's energy over named, possibly overlapping windows (owns an
// ergon_gpu_energy_monitor handle). Needs no privileges. Move-only: see detail::Owner.
class EnergyMonitor
    : public detail::Owner<ergon_gpu_energy_monitor, ergon_gpu_energy_monitor_free> {
public:
  // Takes ownership of a handle from ergon_gpu_energy_monitor_new (may be nullptr).
  using Owner::Owner;

  // `device`: an NVML index ("0"), a GPU-/MIG- UUID.
  explicit EnergyMonitor(std::string_view device) : Owner(nullptr) {
    check_abi();
    detail::check(
        ergon_gpu_energy_monitor_new(detail::text_arg(device), device.size(), &handle_));
  }

  // Opens the window `name` (INVALID_STATE if one of that name is open).
  void begin(std::string_view name) {
    detail::check(ergon_gpu_energy_monitor_begin(handle_, detail::text_arg(name), name.size()),
                  handle_);
  }

  // Closes the window `name` (INVALID_STATE if none of that name is open).
  Measurement end(std::string_view name) {
    Measurement m;
    detail::check(ergon_gpu_energy_monitor_end(handle_, detail::text_arg(name), name.size(),
                                               &m.time_s, &m.energy_j),
                  handle_);
    return m;
  }

  // A window open for the life of the returned object (see EnergyWindow).
  inline EnergyWindow window(std::string name, Measurement *out = nullptr);
};

// A scoped energy window: opened by the constructor, closed by end() or by the destructor,
// which writes the measurement to `out` if one was given (errors there cannot be thrown: the
// destructor then leaves `*out` unchanged). The monitor must outlive the window. Move-only.
class EnergyWindow {
public:
  EnergyWindow(EnergyMonitor &monitor, std::string name, Measurement *out = nullptr)
      : monitor_(&monitor), name_(std::move(name)), out_(out) {
    monitor_->begin(name_);
  }
  EnergyWindow(const EnergyWindow &) = delete;
  EnergyWindow &operator=(const EnergyWindow &) = delete;
  EnergyWindow(EnergyWindow &&other) noexcept
      : monitor_(std::exchange(other.monitor_, nullptr)), name_(std::move(other.name_)),
        out_(std::exchange(other.out_, nullptr)) {}
  EnergyWindow &operator=(EnergyWindow &&) = delete;
  ~EnergyWindow() {
    if (monitor_ != nullptr) {
      try {
        end();
      } catch (...) {
        // A destructor must not throw; the window is dropped.
      }
    }
  }

  // Closes the window now and returns its measurement (also written to `out`); a second call
  // throws INVALID_STATE.
  Measurement end() {
    if (monitor_ == nullptr) {
      throw Error(
          ERGON_STATUS_INVALID_STATE,
          name_.empty()
              ? std::string("ergon::gpu::EnergyWindow::end: the energy window is closed "
                            "(ended, or moved from)")
              : "ergon::gpu::EnergyWindow::end: the energy window \"" + name_ +
                    "\" is closed");
    }
    EnergyMonitor *monitor = std::exchange(monitor_, nullptr);
    Measurement m = monitor->end(name_);
    if (out_ != nullptr) {
      *out_ = m;
    }
    return m;
  }

  const std::string &name() const noexcept { return name_; }
  bool open() const noexcept { return monitor_ != nullptr; }

private:
  EnergyMonitor *monitor_;
  std::string name_;
  Measurement *out_;
};

inline EnergyWindow EnergyMonitor::window(std::string name, Measurement *out) {
  return EnergyWindow(*this, std::move(name), out);
}

// Settings of a Profiler (ergon_gpu_profiler_options without the C callback; see Profiler).
struct ProfilerOptions {
  uint32_t warmup_iters = 1;    // iterations discarded after each clock change
  uint32_t iters_per_clock = 2; // iterations measured at each clock (at least 1)
  uint32_t step_mhz = 0;        // least spacing of the profiled clocks (0: every clock)
  uint32_t min_mhz = 0;         // no clock below this is profiled
  double max_slowdown = 1.5;    // stop lowering once a computation is this much slower
  double blocking_window_s = 1.0; // idle window measured for P_blocking at the end
  bool restore_on_signal = true;  // restore the GPU's settings on SIGINT/SIGTERM
  // Called before each time and energy reading of a measured computation, on the calling
  // thread (e.g. [] { cudaDeviceSynchronize(); }); empty: no synchronisation.
  std::function<void()> sync;
};

// Where profiling stands (ergon_gpu_profiler_progress).
using ProfilerProgress = ergon_gpu_profiler_progress;

// The Perseus profiler of one pipeline stage on one GPU (owns an ergon_gpu_profiler handle):
// over consecutive iterations it locks each selected clock from the maximum down and measures
// every computation between instruction_begin() and instruction_end(); step_end() after each
// iteration returns true once profiling is done (P_blocking measured, settings restored).
// to_csv() is the stage's zeus profile CSV. Needs CAP_SYS_ADMIN. The destructor (or close())
// restores the GPU's settings. Move-only: see detail::Owner.
class Profiler : public detail::Owner<ergon_gpu_profiler, ergon_gpu_profiler_free> {
public:
  // `device`: an NVML index ("0"), a GPU-/MIG- UUID.
  Profiler(std::string_view device, size_t stage, ProfilerOptions options = {})
      : Owner(nullptr) {
    check_abi();
    ergon_gpu_profiler_options raw = ergon_gpu_profiler_options_default();
    raw.warmup_iters = options.warmup_iters;
    raw.iters_per_clock = options.iters_per_clock;
    raw.step_mhz = options.step_mhz;
    raw.min_mhz = options.min_mhz;
    raw.max_slowdown = options.max_slowdown;
    raw.blocking_window_s = options.blocking_window_s;
    raw.restore_on_signal = options.restore_on_signal;
    if (options.sync) {
      // On the heap, so that its address survives moves of the Profiler.
      sync_ = std::make_unique<std::function<void()>>(std::move(options.sync));
      raw.sync = &Profiler::call_sync;
      raw.user_data = sync_.get();
    }
    detail::check(
        ergon_gpu_profiler_new(detail::text_arg(device), device.size(), stage, &raw, &handle_));
  }

  // Before the computation `name` ("forward", "backward" or any name without commas).
  void instruction_begin(std::string_view name) {
    detail::check(
        ergon_gpu_profiler_instruction_begin(handle_, detail::text_arg(name), name.size()),
        handle_);
  }
  // After the computation `name`.
  void instruction_end(std::string_view name) {
    detail::check(
        ergon_gpu_profiler_instruction_end(handle_, detail::text_arg(name), name.size()),
        handle_);
  }
  // After an iteration; true once profiling is done.
  bool step_end() {
    bool done = false;
    detail::check(ergon_gpu_profiler_step_end(handle_, &done), handle_);
    return done;
  }
  ProfilerProgress progress() const { return read_value(ergon_gpu_profiler_get_progress); }
  bool done() const { return progress().done; }
  // The blocking power measured at the end, W (INVALID_STATE before).
  double p_blocking_w() const { return read_value(ergon_gpu_profiler_p_blocking_w); }
  // The stage's zeus profile CSV (stage,instruction,frequency,time,energy).
  std::string to_csv() const { return read_text(ergon_gpu_profiler_to_csv); }

  // Restores the settings now and releases the handle (what the destructor does).
  void close() noexcept { reset(); }

private:
  static void call_sync(void *user_data) {
    // An exception must not cross the C library: it would unwind through Rust frames.
    try {
      (*static_cast<std::function<void()> *>(user_data))();
    } catch (...) {
    }
  }
  std::unique_ptr<std::function<void()>> sync_;
};

} // namespace gpu

namespace perseus {

// Merges profile CSVs (one per profiling rank) into the pipeline's
// (ergon_perseus_profile_merge_csv): rows grouped by (stage, instruction) in order of first
// appearance; replicas' rows of one (stage, instruction, frequency) averaged (exact when equal),
// keeping the frequencies every replica lists. A key twice in one text, or replicas with no
// frequency in common, is INVALID_PROBLEM.
inline std::string merge_profile_csv(const std::vector<std::string_view> &texts) {
  check_abi();
  std::vector<const char *> pointers;
  std::vector<size_t> lens;
  for (std::string_view t : texts) {
    pointers.push_back(detail::text_arg(t));
    lens.push_back(t.size());
  }
  return detail::text([&](char *buf, size_t cap, size_t *len) {
    return ergon_perseus_profile_merge_csv(pointers.data(), lens.data(), texts.size(), buf, cap,
                                           len);
  });
}

} // namespace perseus

namespace zeus {

// How the power-limit optimizer chooses the optimum (ERGON_ZEUS_SELECTOR_*).
enum class Selector : uint32_t {
  ZeusCost = ERGON_ZEUS_SELECTOR_ZEUS_COST,       // least eta*E + (1-eta)*MaxPower*T
  Energy = ERGON_ZEUS_SELECTOR_ENERGY,            // least energy
  Time = ERGON_ZEUS_SELECTOR_TIME,                // least time
  MaxSlowdown = ERGON_ZEUS_SELECTOR_MAX_SLOWDOWN, // lowest limit within max_slowdown
};

// Settings of a PowerLimitOptimizer (ergon_zeus_power_limit_options with std::function
// callbacks).
struct PowerLimitOptions {
  uint32_t wait_steps = 1;     // steps before the first warm-up
  uint32_t warmup_steps = 10;  // steps at each limit before its window opens (0: none)
  uint32_t profile_steps = 40; // steps measured at each limit (at least 1)
  uint32_t step_mw = 25000;    // spacing of the candidate limits, mW
  Selector selector = Selector::ZeusCost;
  double eta = 0.5;           // in [0, 1]
  uint32_t gpu_count = 0;     // GPUs of the whole job for the Zeus cost (0: the devices given)
  double max_slowdown = 1.1;  // for Selector::MaxSlowdown, at least 1
  std::string profile_path;   // read if it exists (no profiling), written at the end; "": none
  bool restore_on_signal = true; // restore the GPUs' settings on SIGINT/SIGTERM
  // Called before a window opens or closes (e.g. [] { cudaDeviceSynchronize(); }).
  std::function<void()> sync;
  // Replaces this process's (energy_j, time_s) of a window with the job's (sum of energy, max
  // of time over the ranks); returns false (or throws) to stop the optimizer. Empty: local.
  std::function<bool(double &energy_j, double &time_s)> aggregate;
};

// Where the optimizer stands (ergon_zeus_power_limit_state; phase is ERGON_ZEUS_PHASE_*).
using PowerLimitState = ergon_zeus_power_limit_state;

// Zeus's just-in-time power-limit optimizer on the GPUs of this process (owns an
// ergon_zeus_power_limit_optimizer handle): call on_step_begin() at the beginning of every
// training step and on_epoch_end() at the end of every epoch. Needs CAP_SYS_ADMIN. The
// destructor (or close()) restores the GPUs' power limits and persistence mode. Move-only: see
// detail::Owner.
class PowerLimitOptimizer
    : public detail::Owner<ergon_zeus_power_limit_optimizer,
                           ergon_zeus_power_limit_optimizer_free> {
public:
  // `devices`: NVML indices ("0") or GPU- UUIDs, all of one GPU model.
  PowerLimitOptimizer(const std::vector<std::string> &devices, PowerLimitOptions options = {})
      : Owner(nullptr) {
    check_abi();
    ergon_zeus_power_limit_options raw = ergon_zeus_power_limit_options_default();
    raw.wait_steps = options.wait_steps;
    raw.warmup_steps = options.warmup_steps;
    raw.profile_steps = options.profile_steps;
    raw.step_mw = options.step_mw;
    raw.selector = static_cast<uint32_t>(options.selector);
    raw.eta = options.eta;
    raw.gpu_count = options.gpu_count;
    raw.max_slowdown = options.max_slowdown;
    if (!options.profile_path.empty()) {
      raw.profile_path = options.profile_path.data();
      raw.profile_path_len = options.profile_path.size();
    }
    raw.restore_on_signal = options.restore_on_signal;
    // On the heap, so that their address survives moves of the optimizer.
    callbacks_ = std::make_unique<Callbacks>(
        Callbacks{std::move(options.sync), std::move(options.aggregate)});
    raw.user_data = callbacks_.get();
    if (callbacks_->sync) {
      raw.sync = &PowerLimitOptimizer::call_sync;
    }
    if (callbacks_->aggregate) {
      raw.aggregate = &PowerLimitOptimizer::call_aggregate;
    }
    std::vector<const char *> pointers;
    std::vector<size_t> lens;
    for (const std::string &d : devices) {
      pointers.push_back(d.data());
      lens.push_back(d.size());
    }
    detail::check(ergon_zeus_power_limit_optimizer_new(pointers.data(), lens.data(),
                                                       devices.size(), &raw, &handle_));
  }

  // At the beginning of every training step.
  void on_step_begin() {
    detail::check(ergon_zeus_power_limit_optimizer_on_step_begin(handle_), handle_);
  }
  // At the end of every epoch.
  void on_epoch_end() {
    detail::check(ergon_zeus_power_limit_optimizer_on_epoch_end(handle_), handle_);
  }
  // Where it stands.
  PowerLimitState state() const { return read_value(ergon_zeus_power_limit_optimizer_get_state); }
  // True once the optimum is chosen and held.
  bool done() const { return state().phase == ERGON_ZEUS_PHASE_DONE; }
  // The measurements so far as a zeus-power-profile/v1 document.
  std::string profile_json() const {
    return read_text(ergon_zeus_power_limit_optimizer_profile_json);
  }
  // Restores the settings now and releases the handle (what the destructor does).
  void close() noexcept { reset(); }

private:
  struct Callbacks {
    std::function<void()> sync;
    std::function<bool(double &, double &)> aggregate;
  };
  // Exceptions must not cross the C library: they would unwind through Rust frames.
  static void call_sync(void *user_data) {
    try {
      static_cast<Callbacks *>(user_data)->sync();
    } catch (...) {
    }
  }
  static bool call_aggregate(void *user_data, double *energy_j, double *time_s) {
    try {
      return static_cast<Callbacks *>(user_data)->aggregate(*energy_j, *time_s);
    } catch (...) {
      return false;
    }
  }
  std::unique_ptr<Callbacks> callbacks_;
};

// Settings of a BatchSizeOptimizer (ergon_zeus_batch_size_options; the reference's defaults).
using BatchSizeOptions = ergon_zeus_batch_size_options;

// The defaults (max_power_w is 0 and must be set).
inline BatchSizeOptions batch_size_options_default() {
  check_abi();
  return ergon_zeus_batch_size_options_default();
}

// The Zeus batch-size optimizer of a recurring job (owns an ergon_zeus_batch_size_optimizer
// handle): next_batch_size() for each recurrence, report() its outcome; to_json() is the state
// (zeus-bso-state/v1) to keep between recurrences, from_json() resumes it. Move-only: see
// detail::Owner.
class BatchSizeOptimizer
    : public detail::Owner<ergon_zeus_batch_size_optimizer,
                           ergon_zeus_batch_size_optimizer_free> {
public:
  BatchSizeOptimizer(const std::vector<uint32_t> &batch_sizes, uint32_t default_batch_size,
                     const BatchSizeOptions &options)
      : Owner(nullptr) {
    check_abi();
    detail::check(ergon_zeus_batch_size_optimizer_new(batch_sizes.data(), batch_sizes.size(),
                                                      default_batch_size, &options, &handle_));
  }
  // Resumes a saved state (PARSE, SCHEMA or INVALID_PROBLEM when it is not one).
  static BatchSizeOptimizer from_json(std::string_view json) {
    return BatchSizeOptimizer(make(ergon_zeus_batch_size_optimizer_from_json, json));
  }
  // The state as a zeus-bso-state/v1 document.
  std::string to_json() const { return read_text(ergon_zeus_batch_size_optimizer_to_json); }
  // The batch size of the next recurrence.
  uint32_t next_batch_size() {
    uint32_t b = 0;
    detail::check(ergon_zeus_batch_size_optimizer_next_batch_size(handle_, &b), handle_);
    return b;
  }
  // An attempt's time and energy (priced with the options' eta and max_power_w).
  void report(uint32_t batch_size, double time_s, double energy_j, bool reached) {
    detail::check(
        ergon_zeus_batch_size_optimizer_report(handle_, batch_size, time_s, energy_j, reached),
        handle_);
  }
  // An attempt's cost, J.
  void report_cost(uint32_t batch_size, double cost, bool reached) {
    detail::check(ergon_zeus_batch_size_optimizer_report_cost(handle_, batch_size, cost, reached),
                  handle_);
  }
  // beta x the lowest cost of a finished recurrence (infinity before one).
  double cost_limit() const { return read_value(ergon_zeus_batch_size_optimizer_cost_limit); }

private:
  explicit BatchSizeOptimizer(ergon_zeus_batch_size_optimizer *h) : Owner(h) {}
};

} // namespace zeus

#undef ERGON_HPP_NAMES

} // namespace ergon

#endif // ERGON_HPP
