// ergon.hpp: a header-only C++17 wrapper over the C ABI in ergon.h.
//
// Handles become move-only RAII objects (ergon::Frontier, ergon::Plan, ergon::PlanExecutor,
// ergon::EnergyMonitor, ergon::DpkWorkload, ergon::DpkResult, ergon::Batcher), buffers become
// std::vector / std::string, and every failed call throws ergon::Error, which carries the
// ergon_status and the library's message for it. Link against libergon as for C
// (`pkg-config --cflags --libs ergon`).
//
//   auto f = ergon::Frontier::from_instance_json(text);
//   f.solve();
//   ergon_perseus_summary s = f.summary();
//   ergon::Plan p = f.plan_t_star();
//   for (ergon::Step step : p.stage(0)) { /* set step.freq_mhz, then run step.kind */ }
//
// GPUs (NVML is loaded at run time; without it calls throw ERGON_STATUS_NVML_UNAVAILABLE):
//
//   for (const ergon::gpu::Info &g : ergon::gpu::devices()) { /* g.index, g.uuid, g.name */ }
//   ergon::PlanExecutor ex("0", p, stage);        // needs CAP_SYS_ADMIN; restores when destroyed
//   for (ergon::Step step : p.stage(stage)) { ex.instruction_begin(step.kind); /* run it */ }
//   ex.step_end();                                // after each iteration
//   ergon::EnergyMonitor mon("0");
//   ergon::Measurement m;
//   { ergon::EnergyWindow w = mon.window("step", &m); /* ... */ }  // m.time_s, m.energy_j
//
// Privacy-budget scheduling (DPK):
//
//   auto w = ergon::DpkWorkload::from_json(text);  // dpk-workload/v1, or from ergon_dpk_problem
//   ergon::DpkResult r = w.schedule(ERGON_DPK_SCHEDULER_DPK);
//   std::vector<uint64_t> ids = r.allocated();     // r.summary().total_weight, r.remaining()
//   std::vector<double> alphas = ergon::dpk::standard_alphas();   // or dense_alphas()
//   auto curve = ergon::dpk::subsampled_gaussian(alphas, 0.01, 1.0, 1e4);  // DP-SGD
//   double eps = ergon::dpk::dp_epsilon(alphas, curve, 1e-5, ERGON_DPK_CONVERSION_TIGHT).epsilon;
// Orloj batching (a server's scheduler: enqueue requests, ask for the next batch when idle):
//
//   ergon::Batcher b({ergon::AppSpec::bimodal("early-exit", 0.040, 0.006, 0.020, 0.3),
//                     ergon::AppSpec::constant("resnet", 0.030, 0.012)},
//                    /*max_batch=*/8);
//   b.enqueue(app, request_id, arrival_s, deadline_s);   // or b.enqueue(app, id, arrival_s)
//   ergon::Decision d;                                   // reuse it: no allocation per call
//   b.next_batch(now_s, d);                              // run d.batch, answer d.dropped
//   b.complete(app, observed_time_s);                    // updates the app's distribution
//
// Like the handles they own, objects are not to be used from two threads at once.

#ifndef ERGON_HPP
#define ERGON_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
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

// The library version, e.g. "0.1.0".
inline std::string version() { return ergon_version(); }

// The ABI version of the loaded library; ERGON_ABI_VERSION is the header's.
inline uint32_t abi_version() noexcept { return ergon_abi_version(); }

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

inline std::string thread_message() {
  return read_message([](char *buf, size_t cap, size_t *len) {
    return ergon_last_error(buf, cap, len);
  });
}

// Builds the exception for `status`: the handle's message if there is one, else this
// thread's, else the status description.
template <class Read> Error error(ergon_status status, Read read_handle_message) {
  std::string message = read_handle_message();
  if (message.empty()) {
    message = thread_message();
  }
  if (message.empty()) {
    message = ergon_status_str(status);
  }
  return Error(status, message);
}

inline void check(ergon_status status) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [] { return std::string(); });
  }
}

inline void check(ergon_status status, const ergon_perseus_frontier *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_perseus_frontier_last_error(handle, buf, cap, len);
      });
    });
  }
}

inline void check(ergon_status status, const ergon_perseus_plan *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_perseus_plan_last_error(handle, buf, cap, len);
      });
    });
  }
}

inline void check(ergon_status status, const ergon_gpu_executor *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_gpu_executor_last_error(handle, buf, cap, len);
      });
    });
  }
}

inline void check(ergon_status status, const ergon_gpu_energy_monitor *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_gpu_energy_monitor_last_error(handle, buf, cap, len);
      });
    });
  }
}

inline void check(ergon_status status, const ergon_dpk_workload *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_dpk_workload_last_error(handle, buf, cap, len);
      });
    });
  }
}

inline void check(ergon_status status, const ergon_dpk_result *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_dpk_result_last_error(handle, buf, cap, len);
      });
    });
  }
}

inline void check(ergon_status status, const ergon_orloj_batcher *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_orloj_batcher_last_error(handle, buf, cap, len);
      });
    });
  }
}

inline void check(ergon_status status, const ergon_orloj_simulation *handle) {
  if (status != ERGON_STATUS_OK) {
    throw error(status, [handle] {
      if (handle == nullptr) {
        return std::string();
      }
      return read_message([handle](char *buf, size_t cap, size_t *len) {
        return ergon_orloj_simulation_last_error(handle, buf, cap, len);
      });
    });
  }
}

// Copies an array with "ask the length, then fill"; `fill(buf, cap, len)` calls the C function
// and `handle` (nullptr for calls without one) names where the message is.
template <class T, class Handle, class Fill>
std::vector<T> items(const Handle *handle, Fill fill) {
  size_t len = 0;
  check(fill(nullptr, 0, &len), handle);
  std::vector<T> out(len);
  if (len > 0) {
    check(fill(out.data(), out.size(), &len), handle);
    out.resize(len);
  }
  return out;
}

// A NUL-terminated field of ergon_gpu_device_info, without reading past its end.
inline std::string fixed_text(const char (&field)[ERGON_GPU_TEXT_CAP]) {
  const void *nul = std::memchr(field, '\0', sizeof field);
  size_t len = nul == nullptr ? sizeof field
                              : static_cast<size_t>(static_cast<const char *>(nul) - field);
  return std::string(field, len);
}

// Copies text with "ask the length, then fill"; `fill(buf, cap, len)` calls the C function.
template <class Handle, class Fill> std::string text(const Handle *handle, Fill fill) {
  size_t len = 0;
  check(fill(nullptr, 0, &len), handle);
  std::string out(len + 1, '\0');
  check(fill(&out[0], out.size(), &len), handle);
  out.resize(len);
  return out;
}

} // namespace detail

// One computation of a stage's program: set the SM clock to `freq_mhz`, then run it.
struct Step {
  uint32_t kind; // ERGON_PERSEUS_KIND_FORWARD or ERGON_PERSEUS_KIND_BACKWARD
  uint32_t freq_mhz;
};

inline bool operator==(const Step &a, const Step &b) {
  return a.kind == b.kind && a.freq_mhz == b.freq_mhz;
}
inline bool operator!=(const Step &a, const Step &b) { return !(a == b); }

// A frequency plan (owns an ergon_perseus_plan handle). Move-only; a moved-from Plan holds no handle
// and its methods throw Error with ERGON_STATUS_NULL_POINTER.
class Plan {
public:
  // Takes ownership of a handle from ergon_perseus_frontier_plan (may be nullptr).
  explicit Plan(ergon_perseus_plan *handle) noexcept : handle_(handle) {}
  Plan(const Plan &) = delete;
  Plan &operator=(const Plan &) = delete;
  Plan(Plan &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Plan &operator=(Plan &&other) noexcept {
    if (this != &other) {
      ergon_perseus_plan_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~Plan() { ergon_perseus_plan_free(handle_); }

  // Iteration time, energy (including waiting for a deadline plan) and number of stages.
  ergon_perseus_plan_info summary() const {
    ergon_perseus_plan_info out{};
    detail::check(ergon_perseus_plan_summary(handle_, &out), handle_);
    return out;
  }

  size_t num_stages() const { return summary().num_stages; }

  // Stage `stage`'s program for one iteration, in order.
  std::vector<Step> stage(size_t stage) const {
    size_t len = 0;
    detail::check(ergon_perseus_plan_stage(handle_, stage, nullptr, nullptr, 0, &len), handle_);
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
  std::string to_json() const {
    return detail::text(handle_, [this](char *buf, size_t cap, size_t *len) {
      return ergon_perseus_plan_to_json(handle_, buf, cap, len);
    });
  }

  // The message of the last failed call on this plan (empty if none).
  std::string last_error() const {
    if (handle_ == nullptr) {
      return std::string();
    }
    return detail::read_message([this](char *buf, size_t cap, size_t *len) {
      return ergon_perseus_plan_last_error(handle_, buf, cap, len);
    });
  }

  const ergon_perseus_plan *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must ergon_perseus_plan_free the handle.
  ergon_perseus_plan *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
  ergon_perseus_plan *handle_;
};

// A frontier problem and, once solved, its frontier (owns an ergon_perseus_frontier handle).
// Move-only; a moved-from Frontier holds no handle and its methods throw Error with
// ERGON_STATUS_NULL_POINTER.
class Frontier {
public:
  // From arrays (everything `problem` points to is only read during the call).
  explicit Frontier(const ergon_perseus_problem &problem) : handle_(nullptr) {
    detail::check(ergon_perseus_frontier_new(&problem, &handle_));
  }

  // Takes ownership of a handle from ergon_perseus_frontier_new / _from_* (may be nullptr).
  explicit Frontier(ergon_perseus_frontier *handle) noexcept : handle_(handle) {}

  // From a perseus-instance/v1 JSON document.
  static Frontier from_instance_json(std::string_view json) {
    ergon_perseus_frontier *h = nullptr;
    // An empty string_view may have a NULL data(); the C call would report NULL_POINTER.
    const char *text = json.empty() ? "" : json.data();
    detail::check(ergon_perseus_frontier_from_instance_json(text, json.size(), &h));
    return Frontier(h);
  }

  // From a zeus profile CSV (stage,instruction,frequency,time,energy) and a pipeline.
  static Frontier
  from_profile_csv(std::string_view csv, const ergon_perseus_pipeline &pipeline, double unit_time_s,
                   double p_blocking_w,
                   uint32_t effective_energy = ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER) {
    ergon_perseus_frontier *h = nullptr;
    const char *text = csv.empty() ? "" : csv.data();
    detail::check(ergon_perseus_frontier_from_profile_csv(text, csv.size(), &pipeline,
                                                  unit_time_s, p_blocking_w,
                                                  effective_energy, &h));
    return Frontier(h);
  }

  Frontier(const Frontier &) = delete;
  Frontier &operator=(const Frontier &) = delete;
  Frontier(Frontier &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Frontier &operator=(Frontier &&other) noexcept {
    if (this != &other) {
      ergon_perseus_frontier_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~Frontier() { ergon_perseus_frontier_free(handle_); }

  // Solves the frontier (once; a second call throws with ERGON_STATUS_INVALID_STATE). If the
  // frontier stops before T_min, summary().complete is false and last_error() says why.
  void solve() { detail::check(ergon_perseus_frontier_solve(handle_), handle_); }

  size_t num_points() const {
    size_t n = 0;
    detail::check(ergon_perseus_frontier_num_points(handle_, &n), handle_);
    return n;
  }

  // Point `index` (0 is the slowest).
  ergon_perseus_point point(size_t index) const {
    ergon_perseus_point p{};
    detail::check(ergon_perseus_frontier_point(handle_, index, &p), handle_);
    return p;
  }

  // All points, slowest first.
  std::vector<ergon_perseus_point> points() const {
    size_t len = 0;
    detail::check(ergon_perseus_frontier_points(handle_, nullptr, 0, &len), handle_);
    std::vector<ergon_perseus_point> out(len);
    if (len > 0) {
      detail::check(ergon_perseus_frontier_points(handle_, out.data(), out.size(), &len), handle_);
      out.resize(len);
    }
    return out;
  }

  // T_min, T_max, T* and the other facts of the solved frontier.
  ergon_perseus_summary summary() const {
    ergon_perseus_summary s{};
    detail::check(ergon_perseus_frontier_summary(handle_, &s), handle_);
    return s;
  }

  // The solved frontier as ergon-frontier/v1 JSON.
  std::string to_json() const {
    return detail::text(handle_, [this](char *buf, size_t cap, size_t *len) {
      return ergon_perseus_frontier_to_json(handle_, buf, cap, len);
    });
  }

  // A plan: `at` is ERGON_PERSEUS_PLAN_FASTEST, ERGON_PERSEUS_PLAN_T_STAR or ERGON_PERSEUS_PLAN_DEADLINE (then with
  // `deadline_s`). The plan does not borrow the frontier.
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

  // The message of the last failed call on this frontier (empty if none), or why an
  // incomplete frontier stopped.
  std::string last_error() const {
    if (handle_ == nullptr) {
      return std::string();
    }
    return detail::read_message([this](char *buf, size_t cap, size_t *len) {
      return ergon_perseus_frontier_last_error(handle_, buf, cap, len);
    });
  }

  const ergon_perseus_frontier *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must ergon_perseus_frontier_free the handle.
  ergon_perseus_frontier *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
  ergon_perseus_frontier *handle_;
};

// --- DPK: privacy-budget scheduling ------------------------------------------------------------

// An offline schedule (owns an ergon_dpk_result handle; it does not borrow its workload).
// Move-only; a moved-from DpkResult holds no handle and its methods throw Error with
// ERGON_STATUS_NULL_POINTER.
class DpkResult {
public:
  // Takes ownership of a handle from ergon_dpk_workload_schedule (may be nullptr).
  explicit DpkResult(ergon_dpk_result *handle) noexcept : handle_(handle) {}
  DpkResult(const DpkResult &) = delete;
  DpkResult &operator=(const DpkResult &) = delete;
  DpkResult(DpkResult &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  DpkResult &operator=(DpkResult &&other) noexcept {
    if (this != &other) {
      ergon_dpk_result_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~DpkResult() { ergon_dpk_result_free(handle_); }

  // The scheduler, number allocated, total weight, sizes, and for ERGON_DPK_SCHEDULER_OPTIMAL the bound.
  ergon_dpk_result_info summary() const {
    ergon_dpk_result_info out{};
    detail::check(ergon_dpk_result_summary(handle_, &out), handle_);
    return out;
  }

  // Ids of the allocated tasks, in allocation order.
  std::vector<uint64_t> allocated() const {
    return detail::items<uint64_t>(handle_, [this](uint64_t *buf, size_t cap, size_t *len) {
      return ergon_dpk_result_allocated(handle_, buf, cap, len);
    });
  }

  // Ids of the blocks, in workload order (the rows of remaining()).
  std::vector<uint64_t> block_ids() const {
    return detail::items<uint64_t>(handle_, [this](uint64_t *buf, size_t cap, size_t *len) {
      return ergon_dpk_result_block_ids(handle_, buf, cap, len);
    });
  }

  // Remaining budget, block by block and order by order (blocks × orders values).
  std::vector<double> remaining() const {
    return detail::items<double>(handle_, [this](double *buf, size_t cap, size_t *len) {
      return ergon_dpk_result_remaining(handle_, buf, cap, len);
    });
  }

  // The schedule as dpk-result/v1 JSON.
  std::string to_json() const {
    return detail::text(handle_, [this](char *buf, size_t cap, size_t *len) {
      return ergon_dpk_result_to_json(handle_, buf, cap, len);
    });
  }

  // The message of the last failed call on this result (empty if none).
  std::string last_error() const {
    if (handle_ == nullptr) {
      return std::string();
    }
    return detail::read_message([this](char *buf, size_t cap, size_t *len) {
      return ergon_dpk_result_last_error(handle_, buf, cap, len);
    });
  }

  const ergon_dpk_result *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must ergon_dpk_result_free the handle.
  ergon_dpk_result *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
  ergon_dpk_result *handle_;
};

// A validated DPK workload: RDP orders, blocks and tasks (owns an ergon_dpk_workload handle).
// Move-only; a moved-from DpkWorkload holds no handle and its methods throw Error with
// ERGON_STATUS_NULL_POINTER.
class DpkWorkload {
public:
  // From arrays (everything `problem` points to is only read during the call).
  explicit DpkWorkload(const ergon_dpk_problem &problem) : handle_(nullptr) {
    detail::check(ergon_dpk_workload_new(&problem, &handle_));
  }

  // Takes ownership of a handle from ergon_dpk_workload_new / _from_json (may be nullptr).
  explicit DpkWorkload(ergon_dpk_workload *handle) noexcept : handle_(handle) {}

  // From a dpk-workload/v1 JSON document.
  static DpkWorkload from_json(std::string_view json) {
    ergon_dpk_workload *h = nullptr;
    const char *text = json.empty() ? "" : json.data();
    detail::check(ergon_dpk_workload_from_json(text, json.size(), &h));
    return DpkWorkload(h);
  }

  DpkWorkload(const DpkWorkload &) = delete;
  DpkWorkload &operator=(const DpkWorkload &) = delete;
  DpkWorkload(DpkWorkload &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  DpkWorkload &operator=(DpkWorkload &&other) noexcept {
    if (this != &other) {
      ergon_dpk_workload_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~DpkWorkload() { ergon_dpk_workload_free(handle_); }

  // Numbers of orders, blocks and tasks.
  ergon_dpk_workload_info summary() const {
    ergon_dpk_workload_info out{};
    detail::check(ergon_dpk_workload_summary(handle_, &out), handle_);
    return out;
  }

  // The RDP orders.
  std::vector<double> alphas() const {
    return detail::items<double>(handle_, [this](double *buf, size_t cap, size_t *len) {
      return ergon_dpk_workload_alphas(handle_, buf, cap, len);
    });
  }

  // The workload as dpk-workload/v1 JSON (explicit capacities and demands).
  std::string to_json() const {
    return detail::text(handle_, [this](char *buf, size_t cap, size_t *len) {
      return ergon_dpk_workload_to_json(handle_, buf, cap, len);
    });
  }

  // Schedules the tasks offline (the workload is not modified).
  DpkResult schedule(const ergon_dpk_options &options) const {
    ergon_dpk_result *r = nullptr;
    detail::check(ergon_dpk_workload_schedule(handle_, &options, &r), handle_);
    return DpkResult(r);
  }
  // With the default options and `scheduler` (ERGON_DPK_SCHEDULER_DPK, _DPF, _FCFS, _AREA, _OPTIMAL).
  DpkResult schedule(uint32_t scheduler = ERGON_DPK_SCHEDULER_DPK) const {
    ergon_dpk_options o = ergon_dpk_options_default();
    o.scheduler = scheduler;
    return schedule(o);
  }

  // The message of the last failed call on this workload (empty if none).
  std::string last_error() const {
    if (handle_ == nullptr) {
      return std::string();
    }
    return detail::read_message([this](char *buf, size_t cap, size_t *len) {
      return ergon_dpk_workload_last_error(handle_, buf, cap, len);
    });
  }

  const ergon_dpk_workload *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must ergon_dpk_workload_free the handle.
  ergon_dpk_workload *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
  ergon_dpk_workload *handle_;
};

// Rényi-DP helpers (failures throw Error with the thread's message).
namespace dpk {

// The 12 standard orders of the DPack paper.
inline std::vector<double> standard_alphas() {
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_alphas_standard(buf, cap, len);
                               });
}

// dp-accounting's default grid of 156 orders (1.1 to 10.9 by 0.1, 11 to 63, 128, 256, 512,
// 1024), for accounting; the helpers take up to ERGON_DPK_MAX_ACCOUNTING_ORDERS orders, a
// workload at most 16.
inline std::vector<double> dense_alphas() {
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_alphas_dense(buf, cap, len);
                               });
}

// Capacity of a block with global budget (epsilon, delta) at each order, as the inverse of
// `conversion` (ERGON_DPK_CONVERSION_CLASSIC or ERGON_DPK_CONVERSION_TIGHT); 0 where nothing
// can be certified.
inline std::vector<double> block_capacity(const std::vector<double> &alphas, double epsilon,
                                          double delta,
                                          uint32_t conversion = ERGON_DPK_CONVERSION_CLASSIC) {
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [&](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_block_capacity_with(
                                     alphas.data(), alphas.size(), epsilon, delta, conversion,
                                     buf, cap, len);
                               });
}

// RDP curve of the Gaussian mechanism with standard deviation sigma.
inline std::vector<double> gaussian(const std::vector<double> &alphas, double sigma) {
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [&](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_curve_gaussian(alphas.data(), alphas.size(), sigma,
                                                           buf, cap, len);
                               });
}

// RDP curve of the Laplace mechanism with scale b (b = 1/epsilon for epsilon-DP).
inline std::vector<double> laplace(const std::vector<double> &alphas, double b) {
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [&](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_curve_laplace(alphas.data(), alphas.size(), b, buf,
                                                          cap, len);
                               });
}

// RDP curve of DP-SGD: Poisson rate q, noise multiplier sigma, `steps` steps.
inline std::vector<double> subsampled_gaussian(const std::vector<double> &alphas, double q,
                                               double sigma, double steps) {
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [&](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_curve_subsampled_gaussian(
                                     alphas.data(), alphas.size(), q, sigma, steps, buf, cap,
                                     len);
                               });
}

// Upper bound on the RDP curve of the Poisson-subsampled Laplace mechanism: rate q, scale b,
// `steps` steps.
inline std::vector<double> subsampled_laplace(const std::vector<double> &alphas, double q,
                                              double b, double steps) {
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [&](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_curve_subsampled_laplace(alphas.data(), alphas.size(),
                                                                     q, b, steps, buf, cap, len);
                               });
}

// Composition of RDP curves on one grid, order by order: sum of counts[i] * curves[i]
// (`counts` empty: one run of each). Curves of different lengths, or counts of another size
// than the curves, throw ERGON_STATUS_INVALID_ARGUMENT; so do no curves (the grid is unknown).
inline std::vector<double> compose(const std::vector<std::vector<double>> &curves,
                                   const std::vector<double> &counts = {}) {
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
  return detail::items<double>(static_cast<const ergon_dpk_workload *>(nullptr),
                               [&](double *buf, size_t cap, size_t *len) {
                                 return ergon_dpk_curve_compose(rows.data(), curves.size(),
                                                          num_alphas, counts_ptr, buf, cap,
                                                          len);
                               });
}

// Sigma of the Gaussian mechanism calibrated to (epsilon, delta) exactly (the analytic
// Gaussian mechanism of Balle & Wang 2018; any epsilon >= 0).
inline double gaussian_sigma(double epsilon, double delta) {
  double sigma = 0.0;
  detail::check(ergon_dpk_gaussian_sigma(epsilon, delta, &sigma));
  return sigma;
}

// Sigma by the classic bound sqrt(2 ln(1.25/delta)) / epsilon; epsilon >= 1 throws
// ERGON_STATUS_INVALID_ARGUMENT (the bound proves nothing there).
inline double gaussian_sigma_classic(double epsilon, double delta) {
  double sigma = 0.0;
  detail::check(ergon_dpk_gaussian_sigma_classic(epsilon, delta, &sigma));
  return sigma;
}

// The exact delta at which the Gaussian mechanism with standard deviation sigma is
// (epsilon, delta)-DP.
inline double gaussian_delta(double sigma, double epsilon) {
  double delta = 0.0;
  detail::check(ergon_dpk_gaussian_delta(sigma, epsilon, &delta));
  return delta;
}

// (epsilon, delta)-DP of an RDP curve, and the index of the order that attains it.
struct Conversion {
  double epsilon;
  size_t alpha_index;
};

// `conversion`: ERGON_DPK_CONVERSION_CLASSIC or ERGON_DPK_CONVERSION_TIGHT.
inline Conversion dp_epsilon(const std::vector<double> &alphas, const std::vector<double> &curve,
                             double delta, uint32_t conversion = ERGON_DPK_CONVERSION_CLASSIC) {
  Conversion out{0.0, 0};
  detail::check(ergon_dpk_curve_dp_epsilon(alphas.data(), alphas.size(), curve.data(), curve.size(),
                                     delta, conversion, &out.epsilon, &out.alpha_index));
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
  DeltaConversion out{0.0, 0};
  detail::check(ergon_dpk_curve_dp_delta(alphas.data(), alphas.size(), curve.data(), curve.size(),
                                   epsilon, conversion, &out.delta, &out.alpha_index));
  return out;
}

} // namespace dpk

// --- GPUs --------------------------------------------------------------------------------------

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
  uint32_t n = 0;
  detail::check(ergon_gpu_device_count(&n));
  return n;
}

// GPU `index` (0 <= index < count(); else ERGON_STATUS_OUT_OF_RANGE).
inline Info info(uint32_t index) {
  ergon_gpu_device_info raw{};
  detail::check(ergon_gpu_device_get_info(index, &raw));
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
  size_t restored = 0;
  detail::check(ergon_gpu_state_restore(&restored));
  return restored;
}

} // namespace gpu

// Executes one pipeline stage of a plan on a GPU (owns an ergon_gpu_executor handle): the
// constructor sets the power limit to its default and locks the memory and graphics clocks at
// their maxima (needs CAP_SYS_ADMIN); per iteration, instruction_begin() before each
// computation in the plan's order, then step_end(). The destructor (or close()) stops the
// worker and restores every setting the executor changed. Move-only; a moved-from or closed
// executor holds no handle and its methods throw Error with ERGON_STATUS_NULL_POINTER.
class PlanExecutor {
public:
  // `device`: an NVML index ("0"), a GPU-/MIG- UUID; `plan` is only read during the call.
  PlanExecutor(const std::string &device, const Plan &plan, size_t stage) : handle_(nullptr) {
    detail::check(ergon_gpu_executor_new(device.data(), device.size(), plan.get(), stage, &handle_));
  }

  // Takes ownership of a handle from ergon_gpu_executor_new (may be nullptr).
  explicit PlanExecutor(ergon_gpu_executor *handle) noexcept : handle_(handle) {}

  PlanExecutor(const PlanExecutor &) = delete;
  PlanExecutor &operator=(const PlanExecutor &) = delete;
  PlanExecutor(PlanExecutor &&other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)) {}
  PlanExecutor &operator=(PlanExecutor &&other) noexcept {
    if (this != &other) {
      ergon_gpu_executor_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~PlanExecutor() { ergon_gpu_executor_free(handle_); }

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
                  "ergon::PlanExecutor::instruction_begin: unknown instruction \"" +
                      std::string(name) +
                      "\" (expected \"forward\" or \"backward\")");
    }
    instruction_begin(kind);
  }

  // After an iteration: rewinds the plan, then throws for an iteration that did not run every
  // planned instruction (INVALID_STATE) or for clock changes the worker failed to make (GPU).
  void step_end() { detail::check(ergon_gpu_executor_step_end(handle_), handle_); }

  // Blocks until the worker has handled the latest clock request.
  void wait_applied() { detail::check(ergon_gpu_executor_wait_applied(handle_), handle_); }

  // Stops the worker and restores the settings now (what the destructor does).
  void close() noexcept { ergon_gpu_executor_free(std::exchange(handle_, nullptr)); }

  // The message of the last failed call on this executor (empty if none).
  std::string last_error() const {
    if (handle_ == nullptr) {
      return std::string();
    }
    return detail::read_message([this](char *buf, size_t cap, size_t *len) {
      return ergon_gpu_executor_last_error(handle_, buf, cap, len);
    });
  }

  const ergon_gpu_executor *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must ergon_gpu_executor_free the handle.
  ergon_gpu_executor *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
  ergon_gpu_executor *handle_;
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
// ergon_gpu_energy_monitor handle). Needs no privileges. Move-only; a moved-from monitor holds no
// handle and its methods throw Error with ERGON_STATUS_NULL_POINTER.
class EnergyMonitor {
public:
  explicit EnergyMonitor(const std::string &device) : handle_(nullptr) {
    detail::check(ergon_gpu_energy_monitor_new(device.data(), device.size(), &handle_));
  }
  // Takes ownership of a handle from ergon_gpu_energy_monitor_new (may be nullptr).
  explicit EnergyMonitor(ergon_gpu_energy_monitor *handle) noexcept : handle_(handle) {}

  EnergyMonitor(const EnergyMonitor &) = delete;
  EnergyMonitor &operator=(const EnergyMonitor &) = delete;
  EnergyMonitor(EnergyMonitor &&other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)) {}
  EnergyMonitor &operator=(EnergyMonitor &&other) noexcept {
    if (this != &other) {
      ergon_gpu_energy_monitor_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~EnergyMonitor() { ergon_gpu_energy_monitor_free(handle_); }

  // Opens the window `name` (INVALID_STATE if one of that name is open).
  void begin(const std::string &name) {
    detail::check(ergon_gpu_energy_monitor_begin(handle_, name.data(), name.size()), handle_);
  }

  // Closes the window `name` (INVALID_STATE if none of that name is open).
  Measurement end(const std::string &name) {
    Measurement m;
    detail::check(ergon_gpu_energy_monitor_end(handle_, name.data(), name.size(), &m.time_s, &m.energy_j),
                  handle_);
    return m;
  }

  // A window open for the life of the returned object (see EnergyWindow).
  inline EnergyWindow window(std::string name, Measurement *out = nullptr);

  // The message of the last failed call on this monitor (empty if none).
  std::string last_error() const {
    if (handle_ == nullptr) {
      return std::string();
    }
    return detail::read_message([this](char *buf, size_t cap, size_t *len) {
      return ergon_gpu_energy_monitor_last_error(handle_, buf, cap, len);
    });
  }

  const ergon_gpu_energy_monitor *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must ergon_gpu_energy_monitor_free the handle.
  ergon_gpu_energy_monitor *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
  ergon_gpu_energy_monitor *handle_;
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
      throw Error(ERGON_STATUS_INVALID_STATE,
                  name_.empty() ? std::string("ergon::EnergyWindow::end: the energy window is "
                                              "closed (ended, or moved from)")
                                : "ergon::EnergyWindow::end: the energy window \"" + name_ +
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


// --- Orloj batching ----------------------------------------------------------------------------

// One application of a Batcher: its SLO and execution-time law (ergon_orloj_app with owned strings
// and samples). Build one with the static functions.
struct AppSpec {
  std::string name;
  double slo_s = 0.0;                 // latency SLO, seconds (> 0)
  uint32_t kind = ERGON_ORLOJ_EXEC_CONSTANT; // ERGON_ORLOJ_EXEC_*
  double value_s = 0.0;               // constant
  double low_s = 0.0, high_s = 0.0, p_low = 0.0; // bimodal (early exit)
  double mean_s = 0.0, cv = 0.0;      // lognormal
  std::vector<double> samples_s;      // samples

  static AppSpec constant(std::string name, double slo_s, double value_s) {
    AppSpec a;
    a.name = std::move(name);
    a.slo_s = slo_s;
    a.kind = ERGON_ORLOJ_EXEC_CONSTANT;
    a.value_s = value_s;
    return a;
  }
  // `low_s` with probability `p_low`, else `high_s`.
  static AppSpec bimodal(std::string name, double slo_s, double low_s, double high_s,
                         double p_low) {
    AppSpec a;
    a.name = std::move(name);
    a.slo_s = slo_s;
    a.kind = ERGON_ORLOJ_EXEC_BIMODAL;
    a.low_s = low_s;
    a.high_s = high_s;
    a.p_low = p_low;
    return a;
  }
  static AppSpec lognormal(std::string name, double slo_s, double mean_s, double cv) {
    AppSpec a;
    a.name = std::move(name);
    a.slo_s = slo_s;
    a.kind = ERGON_ORLOJ_EXEC_LOGNORMAL;
    a.mean_s = mean_s;
    a.cv = cv;
    return a;
  }
  // Uniform over measured times.
  static AppSpec samples(std::string name, double slo_s, std::vector<double> values_s) {
    AppSpec a;
    a.name = std::move(name);
    a.slo_s = slo_s;
    a.kind = ERGON_ORLOJ_EXEC_SAMPLES;
    a.samples_s = std::move(values_s);
    return a;
  }

  // The C view; borrows this object's strings and samples.
  ergon_orloj_app raw() const noexcept {
    ergon_orloj_app r{};
    r.name = name.data();
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
};

// What Batcher::next_batch decided. Reuse one object across calls: its vectors keep their
// capacity, so deciding does not allocate once they have grown.
struct Decision {
  std::vector<uint64_t> batch;   // run these now, as one batch (empty: wait)
  std::vector<uint64_t> dropped; // hopeless or expired: answer them as missed
  double expected_time_s = 0.0;  // expected batch time (0 if not asked for, or no batch)
};

// The Orloj online batcher (owns an ergon_orloj_batcher handle). Move-only; a moved-from Batcher
// holds no handle and its methods throw Error with ERGON_STATUS_NULL_POINTER.
class Batcher {
public:
  // Applications (index = id in the other calls), the largest batch, the batch-size factors
  // s(1..max_batch) (empty: all 1) and the options (policy, grid, p_min, decay...).
  Batcher(const std::vector<AppSpec> &apps, size_t max_batch,
          const std::vector<double> &scale = {},
          const ergon_orloj_batcher_options &options = ergon_orloj_batcher_options_default())
      : handle_(nullptr) {
    if (!scale.empty() && scale.size() != max_batch) {
      throw Error(ERGON_STATUS_INVALID_PROBLEM,
                  "ergon::Batcher: " + std::to_string(scale.size()) +
                      " scale factors for max_batch " + std::to_string(max_batch) +
                      ": give one per batch size");
    }
    std::vector<ergon_orloj_app> raw;
    raw.reserve(apps.size());
    for (const AppSpec &a : apps) {
      raw.push_back(a.raw());
    }
    detail::check(ergon_orloj_batcher_new(raw.empty() ? nullptr : raw.data(), raw.size(),
                                    scale.empty() ? nullptr : scale.data(), max_batch,
                                    &options, &handle_));
  }

  // The workload of an orloj-sim/v1 document; `policy` as in its "policies" ("orloj",
  // "clockwork-p99", ...), empty for the document's first.
  static Batcher from_json(std::string_view json, const std::string &policy = std::string()) {
    ergon_orloj_batcher *h = nullptr;
    const char *text = json.empty() ? "" : json.data();
    detail::check(ergon_orloj_batcher_from_json(text, json.size(),
                                          policy.empty() ? nullptr : policy.c_str(), &h));
    return Batcher(h);
  }

  // Takes ownership of a handle from ergon_orloj_batcher_new / _from_json (may be nullptr).
  explicit Batcher(ergon_orloj_batcher *handle) noexcept : handle_(handle) {}

  Batcher(const Batcher &) = delete;
  Batcher &operator=(const Batcher &) = delete;
  Batcher(Batcher &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Batcher &operator=(Batcher &&other) noexcept {
    if (this != &other) {
      ergon_orloj_batcher_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ~Batcher() { ergon_orloj_batcher_free(handle_); }

  // Queues request `id` of application `app`, due by `deadline_s` (absolute seconds).
  void enqueue(size_t app, uint64_t id, double arrival_s, double deadline_s) {
    detail::check(ergon_orloj_batcher_enqueue(handle_, app, id, arrival_s, deadline_s), handle_);
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

  size_t queued() const {
    size_t n = 0;
    detail::check(ergon_orloj_batcher_queued(handle_, &n), handle_);
    return n;
  }
  size_t max_batch_size() const {
    size_t n = 0;
    detail::check(ergon_orloj_batcher_max_batch_size(handle_, &n), handle_);
    return n;
  }
  size_t num_apps() const {
    size_t n = 0;
    detail::check(ergon_orloj_batcher_num_apps(handle_, &n), handle_);
    return n;
  }
  // SLO, mean and p99 of the app's current law, completions reported.
  ergon_orloj_app_stats app_stats(size_t app) const {
    ergon_orloj_app_stats s{};
    detail::check(ergon_orloj_batcher_app_stats(handle_, app, &s), handle_);
    return s;
  }
  std::string policy_name() const {
    return detail::text(handle_, [this](char *buf, size_t cap, size_t *len) {
      return ergon_orloj_batcher_policy_name(handle_, buf, cap, len);
    });
  }

  // The message of the last failed call on this batcher (empty if none).
  std::string last_error() const {
    if (handle_ == nullptr) {
      return std::string();
    }
    return detail::read_message([this](char *buf, size_t cap, size_t *len) {
      return ergon_orloj_batcher_last_error(handle_, buf, cap, len);
    });
  }

  const ergon_orloj_batcher *get() const noexcept { return handle_; }
  // Gives up ownership; the caller must ergon_orloj_batcher_free the handle.
  ergon_orloj_batcher *release() noexcept { return std::exchange(handle_, nullptr); }
  explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
  ergon_status call_next(double now_s, Decision &out, size_t *nb, size_t *nd, double *t) {
    return ergon_orloj_batcher_next_batch(handle_, now_s, out.batch.data(), out.batch.size(), nb,
                                    out.dropped.data(), out.dropped.size(), nd, t);
  }

  ergon_orloj_batcher *handle_;
};

namespace orloj {

// Runs an orloj-sim/v1 simulation; returns the orloj-result/v1 JSON (as `ergon orloj
// simulate --config FILE --json` prints it).
inline std::string simulate_json(std::string_view config) {
  ergon_orloj_simulation *r = nullptr;
  const char *text = config.empty() ? "" : config.data();
  detail::check(ergon_orloj_simulation_run_json(text, config.size(), &r));
  try {
    std::string out = detail::text(r, [r](char *buf, size_t cap, size_t *len) {
      return ergon_orloj_simulation_to_json(r, buf, cap, len);
    });
    ergon_orloj_simulation_free(r);
    return out;
  } catch (...) {
    ergon_orloj_simulation_free(r);
    throw;
  }
}

} // namespace orloj

} // namespace ergon

#endif // ERGON_HPP
