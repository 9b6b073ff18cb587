"""The ctypes mirror of ``include/ergon.h``: its constants, structures and function prototypes.

Everything here is private. The structures mirror the header field for field (same order, same
C types); :data:`PROTOTYPES` gives ``restype``/``argtypes`` of every function of the header,
which :func:`ergon._library.lib` declares before the first call so that ctypes converts (and
checks) every argument. ``tests/test_abi_declarations.py`` compares all of it with the header.

String conventions of the C ABI: an input string is a pointer and a length in bytes (UTF-8,
not NUL-terminated); an output string is filled in two calls, the length first (see
:func:`ergon._ffi.read_text`).
"""

from __future__ import annotations

from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Dict, List, Tuple

# --- constants of ergon.h --------------------------------------------------------------------

ERGON_ABI_VERSION = 2
ERGON_AUXO_SPLIT_TEST_REFERENCE = 0
ERGON_AUXO_SPLIT_TEST_FIXED = 1
ERGON_AUXO_SPLIT_TEST_IMPROVED = 2
ERGON_AUXO_SIGNAL_CENTERED_NORMALIZED = 0
ERGON_AUXO_SIGNAL_RAW = 1
ERGON_AUXO_MAX_SPLIT_ROUNDS = 4096
ERGON_PERSEUS_KIND_FORWARD = 0
ERGON_PERSEUS_KIND_BACKWARD = 1
ERGON_PERSEUS_SCHEDULE_1F1B = 0
ERGON_PERSEUS_SCHEDULE_GPIPE = 1
ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B = 2
ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER = 0
ERGON_PERSEUS_EFFECTIVE_ENERGY_BEFORE_FILTER = 1
ERGON_PERSEUS_PLAN_FASTEST = 0
ERGON_PERSEUS_PLAN_T_STAR = 1
ERGON_PERSEUS_PLAN_DEADLINE = 2
ERGON_GPU_TEXT_CAP = 96
ERGON_DPK_SCHEDULER_DPK = 0
ERGON_DPK_SCHEDULER_DPF = 1
ERGON_DPK_SCHEDULER_FCFS = 2
ERGON_DPK_SCHEDULER_AREA = 3
ERGON_DPK_SCHEDULER_OPTIMAL = 4
ERGON_DPK_KNAPSACK_WEIGHTED = 0
ERGON_DPK_KNAPSACK_COUNT = 1
ERGON_DPK_DPF_CAPACITY_INITIAL = 0
ERGON_DPK_DPF_CAPACITY_REMAINING = 1
ERGON_DPK_CONVERSION_CLASSIC = 0
ERGON_DPK_CONVERSION_TIGHT = 1
ERGON_DPK_MAX_ACCOUNTING_ORDERS = 4096
ERGON_ORLOJ_EXEC_CONSTANT = 0
ERGON_ORLOJ_EXEC_BIMODAL = 1
ERGON_ORLOJ_EXEC_LOGNORMAL = 2
ERGON_ORLOJ_EXEC_SAMPLES = 3
ERGON_ORLOJ_POLICY_ORLOJ = 0
ERGON_ORLOJ_POLICY_CLOCKWORK = 1
ERGON_ORLOJ_POLICY_NEXUS = 2
ERGON_ORLOJ_POLICY_CLIPPER = 3
ERGON_ORLOJ_POLICY_EDF = 4
ERGON_ORLOJ_POLICY_FIFO = 5
ERGON_ORLOJ_ESTIMATE_MEAN = 0
ERGON_ORLOJ_ESTIMATE_P99 = 1
ERGON_ZEUS_SELECTOR_ZEUS_COST = 0
ERGON_ZEUS_SELECTOR_ENERGY = 1
ERGON_ZEUS_SELECTOR_TIME = 2
ERGON_ZEUS_SELECTOR_MAX_SLOWDOWN = 3
ERGON_ZEUS_PHASE_READY = 0
ERGON_ZEUS_PHASE_WARMUP = 1
ERGON_ZEUS_PHASE_PROFILING = 2
ERGON_ZEUS_PHASE_DONE = 3
ERGON_ZEUS_PHASE_STOPPED = 4
ERGON_OOBLECK_OBJECTIVE_V011 = 0
ERGON_OOBLECK_OBJECTIVE_DEVELOP = 1
ERGON_OOBLECK_SOLVER_EXACT = 0
ERGON_OOBLECK_SOLVER_RECURRENCE = 1

# --- structures of ergon.h (field order and C types exactly as in the header) ----------------

ergon_status = c_int32


class ergon_perseus_frontier(Structure):
    """Opaque ``struct ergon_perseus_frontier`` (only ever used through a pointer)."""


class ergon_perseus_plan(Structure):
    """Opaque ``struct ergon_perseus_plan`` (only ever used through a pointer)."""


class ergon_gpu_executor(Structure):
    """Opaque ``struct ergon_gpu_executor`` (only ever used through a pointer)."""


class ergon_gpu_energy_monitor(Structure):
    """Opaque ``struct ergon_gpu_energy_monitor`` (only ever used through a pointer)."""


class ergon_gpu_profiler(Structure):
    """Opaque ``struct ergon_gpu_profiler`` (only ever used through a pointer)."""


class ergon_zeus_power_limit_optimizer(Structure):
    """Opaque ``struct ergon_zeus_power_limit_optimizer`` (only ever used through a pointer)."""


class ergon_zeus_batch_size_optimizer(Structure):
    """Opaque ``struct ergon_zeus_batch_size_optimizer`` (only ever used through a pointer)."""


class ergon_dpk_workload(Structure):
    """Opaque ``struct ergon_dpk_workload`` (only ever used through a pointer)."""


class ergon_dpk_result(Structure):
    """Opaque ``struct ergon_dpk_result`` (only ever used through a pointer)."""


class ergon_dpk_online(Structure):
    """Opaque ``struct ergon_dpk_online`` (only ever used through a pointer)."""


class ergon_dpk_options(Structure):
    """``struct ergon_dpk_options``: scheduler settings."""

    _fields_ = [
        ("scheduler", c_uint32),
        ("eta", c_double),
        ("knapsack", c_uint32),
        ("recompute_every", c_size_t),
        ("single_task_fallback", c_bool),
        ("dpf_weighted", c_bool),
        ("dpf_capacity", c_uint32),
        ("max_nodes", c_uint64),
    ]


class ergon_dpk_block(Structure):
    """``struct ergon_dpk_block``: a data block of a workload given as arrays."""

    _fields_ = [
        ("id", c_uint64),
        ("epsilon", c_double),
        ("delta", c_double),
        ("capacity", POINTER(c_double)),
        ("capacity_len", c_size_t),
        ("arrival", c_double),
    ]


class ergon_dpk_task(Structure):
    """``struct ergon_dpk_task``: a task of a workload given as arrays."""

    _fields_ = [
        ("id", c_uint64),
        ("weight", c_double),
        ("arrival", c_double),
        ("blocks", POINTER(c_uint64)),
        ("num_blocks", c_size_t),
        ("demand", POINTER(c_double)),
        ("demand_len", c_size_t),
    ]


class ergon_dpk_problem(Structure):
    """``struct ergon_dpk_problem``: a workload given as arrays."""

    _fields_ = [
        ("alphas", POINTER(c_double)),
        ("num_alphas", c_size_t),
        ("blocks", POINTER(ergon_dpk_block)),
        ("num_blocks", c_size_t),
        ("tasks", POINTER(ergon_dpk_task)),
        ("num_tasks", c_size_t),
    ]


class ergon_dpk_online_info(Structure):
    """``struct ergon_dpk_online_info``: facts about an online simulation."""

    _fields_ = [
        ("scheduler", c_uint32),
        ("num_submitted", c_size_t),
        ("num_allocated", c_size_t),
        ("total_weight", c_double),
        ("mean_delay", c_double),
        ("num_rounds", c_size_t),
    ]


class ergon_dpk_workload_info(Structure):
    """``struct ergon_dpk_workload_info``: sizes of a workload."""

    _fields_ = [
        ("num_alphas", c_size_t),
        ("num_blocks", c_size_t),
        ("num_tasks", c_size_t),
    ]


class ergon_dpk_result_info(Structure):
    """``struct ergon_dpk_result_info``: facts about a schedule."""

    _fields_ = [
        ("scheduler", c_uint32),
        ("num_allocated", c_size_t),
        ("total_weight", c_double),
        ("num_blocks", c_size_t),
        ("num_alphas", c_size_t),
        ("upper_bound", c_double),
        ("proven_optimal", c_bool),
    ]


class ergon_auxo_clusterer(Structure):
    """Opaque ``struct ergon_auxo_clusterer`` (only ever used through a pointer)."""


class ergon_auxo_options(Structure):
    """``struct ergon_auxo_options``: how a cohort clusterer is configured."""

    _fields_ = [
        ("clients", c_uint64),
        ("train_ratio", c_double),
        ("known_clients", c_double),
        ("split_test", c_uint32),
        ("signal", c_uint32),
        ("split_rounds", POINTER(c_uint32)),
        ("num_split_rounds", c_size_t),
        ("sub_clustering_rounds", c_uint32),
        ("min_reporters", c_uint32),
        ("merge", c_bool),
        ("base_reward", c_double),
        ("vote_step", c_double),
        ("epsilon", c_double),
        ("epsilon_decay", c_double),
        ("improved_alpha", c_double),
        ("improved_block", c_uint32),
        ("improved_null_draws", c_uint32),
        ("improved_min_rows", c_uint32),
        ("improved_min_half_fraction", c_double),
        ("seed", c_uint64),
    ]


class ergon_auxo_step_result(Structure):
    """``struct ergon_auxo_step_result``: what one clustering step did."""

    _fields_ = [
        ("ran", c_bool),
        ("rewarded", c_bool),
        ("split", c_bool),
        ("merged", c_bool),
        ("split_parent", c_uint32),
        ("split_child", c_uint32),
        ("merged_cohort", c_uint32),
        ("num_cohorts", c_uint32),
    ]


class ergon_oobleck_templates(Structure):
    """Opaque ``struct ergon_oobleck_templates`` (only ever used through a pointer)."""


class ergon_oobleck_plan(Structure):
    """Opaque ``struct ergon_oobleck_plan`` (only ever used through a pointer)."""


class ergon_oobleck_options(Structure):
    """``struct ergon_oobleck_options``: how templates are built."""

    _fields_ = [
        ("objective", c_uint32),
        ("solver", c_uint32),
        ("max_nodes", c_uint32),
        ("gpus_per_node", c_uint32),
        ("node_memory_bytes", c_uint64),
    ]


class ergon_oobleck_templates_info(Structure):
    """``struct ergon_oobleck_templates_info``: n0, sizes, counts."""

    _fields_ = [
        ("n0", c_uint32),
        ("min_nodes", c_uint32),
        ("max_nodes", c_uint32),
        ("num_templates", c_size_t),
        ("num_layers", c_size_t),
    ]


class ergon_oobleck_template(Structure):
    """``struct ergon_oobleck_template``: one template's numbers."""

    _fields_ = [
        ("num_nodes", c_uint32),
        ("num_stages", c_size_t),
        ("bottleneck", c_size_t),
        ("objective_ms", c_double),
        ("latency_at_128_ms", c_double),
    ]


class ergon_oobleck_plan_info(Structure):
    """``struct ergon_oobleck_plan_info``: facts about a plan."""

    _fields_ = [
        ("num_pipelines", c_size_t),
        ("iteration_time_ms", c_double),
        ("microbatches", c_uint64),
        ("num_nodes", c_uint32),
        ("num_transfers", c_size_t),
    ]


class ergon_oobleck_pipeline(Structure):
    """``struct ergon_oobleck_pipeline``: one pipeline."""

    _fields_ = [
        ("num_nodes", c_uint32),
        ("microbatches", c_uint64),
        ("first_node", c_uint32),
    ]


class ergon_orloj_batcher(Structure):
    """Opaque ``struct ergon_orloj_batcher`` (only ever used through a pointer)."""


class ergon_chase_forecaster(Structure):
    """Opaque ``struct ergon_chase_forecaster`` (only ever used through a pointer)."""


class ergon_orloj_simulation(Structure):
    """Opaque ``struct ergon_orloj_simulation`` (only ever used through a pointer)."""


class ergon_orloj_batcher_options(Structure):
    """``struct ergon_orloj_batcher_options``: how a batcher decides."""

    _fields_ = [
        ("policy", c_uint32),
        ("estimate", c_uint32),
        ("p_min", c_double),
        ("bins", c_size_t),
        ("grid_span_s", c_double),
        ("decay", c_double),
        ("single_app", c_bool),
        ("powers_of_two", c_bool),
        ("adaptive_floor", c_bool),
        ("load_floor", c_bool),
    ]


class ergon_orloj_app(Structure):
    """``struct ergon_orloj_app``: one application's SLO and execution-time law (``name`` is
    ``name_len`` bytes of UTF-8, not NUL-terminated)."""

    _fields_ = [
        ("name", c_char_p),
        ("name_len", c_size_t),
        ("slo_s", c_double),
        ("kind", c_uint32),
        ("value_s", c_double),
        ("low_s", c_double),
        ("high_s", c_double),
        ("p_low", c_double),
        ("mean_s", c_double),
        ("cv", c_double),
        ("samples_s", POINTER(c_double)),
        ("num_samples", c_size_t),
    ]


class ergon_orloj_app_stats(Structure):
    """``struct ergon_orloj_app_stats``: an application's SLO and current law's mean and p99."""

    _fields_ = [
        ("slo_s", c_double),
        ("mean_s", c_double),
        ("p99_s", c_double),
        ("completions", c_uint64),
    ]


class ergon_perseus_option(Structure):
    """``struct ergon_perseus_option``: one measurement of a computation type at one SM clock."""

    _fields_ = [
        ("freq_mhz", c_uint32),
        ("time_s", c_double),
        ("energy_j", c_double),
    ]


class ergon_perseus_fit(Structure):
    """``struct ergon_perseus_fit``: coefficients of the cost model ``a·exp(b·d) + c``."""

    _fields_ = [
        ("a", c_double),
        ("b", c_double),
        ("c", c_double),
    ]


class ergon_perseus_profile(Structure):
    """``struct ergon_perseus_profile``: the measurements of one (stage, kind)."""

    _fields_ = [
        ("stage", c_uint32),
        ("kind", c_uint32),
        ("options", POINTER(ergon_perseus_option)),
        ("num_options", c_size_t),
        ("fit", POINTER(ergon_perseus_fit)),
    ]


class ergon_perseus_pipeline(Structure):
    """``struct ergon_perseus_pipeline``: a pipeline shape."""

    _fields_ = [
        ("schedule", c_uint32),
        ("num_stages", c_uint32),
        ("num_microbatches", c_uint32),
        ("virtual_stages", c_uint32),
    ]


class ergon_perseus_node(Structure):
    """``struct ergon_perseus_node``: a computation of an explicit DAG."""

    _fields_ = [
        ("stage", c_uint32),
        ("kind", c_uint32),
        ("microbatch", c_uint32),
    ]


class ergon_perseus_edge(Structure):
    """``struct ergon_perseus_edge``: node ``from`` finishes before node ``to`` starts."""

    _fields_ = [
        ("from", c_uint32),
        ("to", c_uint32),
    ]


class ergon_perseus_problem(Structure):
    """``struct ergon_perseus_problem``: a frontier problem given as arrays."""

    _fields_ = [
        ("unit_time_s", c_double),
        ("p_blocking_w", c_double),
        ("effective_energy", c_uint32),
        ("profiles", POINTER(ergon_perseus_profile)),
        ("num_profiles", c_size_t),
        ("pipeline", ergon_perseus_pipeline),
        ("nodes", POINTER(ergon_perseus_node)),
        ("num_nodes", c_size_t),
        ("edges", POINTER(ergon_perseus_edge)),
        ("num_edges", c_size_t),
        ("num_stages", c_uint32),
    ]


class ergon_perseus_point(Structure):
    """``struct ergon_perseus_point``: one point of the frontier."""

    _fields_ = [
        ("time_s", c_double),
        ("energy_j", c_double),
        ("effective_cost_j", c_double),
        ("cost_change_j", c_double),
        ("quanta", c_uint64),
    ]


class ergon_perseus_summary(Structure):
    """``struct ergon_perseus_summary``: facts about a solved frontier."""

    _fields_ = [
        ("t_min_s", c_double),
        ("t_max_s", c_double),
        ("t_star_s", c_double),
        ("t_star_energy_j", c_double),
        ("num_points", c_size_t),
        ("num_stages", c_uint32),
        ("complete", c_bool),
    ]


class ergon_perseus_plan_info(Structure):
    """``struct ergon_perseus_plan_info``: facts about a plan."""

    _fields_ = [
        ("time_s", c_double),
        ("energy_j", c_double),
        ("num_stages", c_size_t),
    ]


class ergon_gpu_device_info(Structure):
    """``struct ergon_gpu_device_info``: one GPU as NVML reports it (NUL-terminated text arrays)."""

    _fields_ = [
        ("index", c_uint32),
        ("architecture", c_uint32),
        ("is_mig", c_bool),
        ("uuid", c_char * ERGON_GPU_TEXT_CAP),
        ("name", c_char * ERGON_GPU_TEXT_CAP),
    ]


# int (*progress)(void *user_data, uint64_t done, uint64_t total) of
# ergon_perseus_solve_options: nonzero stops the solve.
ergon_perseus_progress_fn = CFUNCTYPE(c_int, c_void_p, c_uint64, c_uint64)

ERGON_PERSEUS_STOP_T_MIN = 0
ERGON_PERSEUS_STOP_T_STAR = 1
ERGON_PERSEUS_STOP_TIME = 2


class ergon_perseus_solve_options(Structure):
    """``struct ergon_perseus_solve_options``: how far to solve, and a progress callback."""

    _fields_ = [
        ("stop", c_uint32),
        ("stop_time_s", c_double),
        ("progress", ergon_perseus_progress_fn),
        ("user_data", c_void_p),
    ]


# void (*sync)(void *user_data) of ergon_gpu_profiler_options.
ergon_gpu_profiler_sync = CFUNCTYPE(None, c_void_p)


class ergon_gpu_profiler_options(Structure):
    """``struct ergon_gpu_profiler_options``: profiler settings."""

    _fields_ = [
        ("warmup_iters", c_uint32),
        ("iters_per_clock", c_uint32),
        ("step_mhz", c_uint32),
        ("min_mhz", c_uint32),
        ("max_slowdown", c_double),
        ("blocking_window_s", c_double),
        ("restore_on_signal", c_bool),
        ("sync", ergon_gpu_profiler_sync),
        ("user_data", c_void_p),
    ]


class ergon_gpu_profiler_progress(Structure):
    """``struct ergon_gpu_profiler_progress``: where profiling stands."""

    _fields_ = [
        ("freq_mhz", c_uint32),
        ("clock_index", c_size_t),
        ("clocks_total", c_size_t),
        ("warming_up", c_bool),
        ("iters_left", c_uint64),
        ("eta_s", c_double),
        ("done", c_bool),
    ]


# bool (*aggregate)(void *user_data, double *energy_j, double *time_s) of
# ergon_zeus_power_limit_options.
ergon_zeus_aggregate = CFUNCTYPE(c_bool, c_void_p, POINTER(c_double), POINTER(c_double))


class ergon_zeus_power_limit_options(Structure):
    """``struct ergon_zeus_power_limit_options``: power-limit optimizer settings."""

    _fields_ = [
        ("wait_steps", c_uint32),
        ("warmup_steps", c_uint32),
        ("profile_steps", c_uint32),
        ("step_mw", c_uint32),
        ("selector", c_uint32),
        ("eta", c_double),
        ("gpu_count", c_uint32),
        ("max_slowdown", c_double),
        ("profile_path", c_char_p),
        ("profile_path_len", c_size_t),
        ("restore_on_signal", c_bool),
        ("sync", ergon_gpu_profiler_sync),
        ("aggregate", ergon_zeus_aggregate),
        ("user_data", c_void_p),
    ]


class ergon_zeus_power_limit_state(Structure):
    """``struct ergon_zeus_power_limit_state``: where the optimizer stands."""

    _fields_ = [
        ("phase", c_uint32),
        ("limit_mw", c_uint32),
        ("steps_left", c_uint32),
        ("optimal_limit_mw", c_uint32),
        ("profiled", c_size_t),
        ("candidates", c_size_t),
    ]


class ergon_zeus_batch_size_options(Structure):
    """``struct ergon_zeus_batch_size_options``: batch-size optimizer settings."""

    _fields_ = [
        ("eta", c_double),
        ("max_power_w", c_double),
        ("beta", c_double),
        ("num_pruning_rounds", c_uint32),
        ("num_explorations", c_uint32),
        ("window_size", c_uint32),
        ("seed", c_uint64),
        ("prior_mean", c_double),
        ("prior_precision", c_double),
    ]


FrontierPtr = POINTER(ergon_perseus_frontier)
PlanPtr = POINTER(ergon_perseus_plan)
ExecutorPtr = POINTER(ergon_gpu_executor)
MonitorPtr = POINTER(ergon_gpu_energy_monitor)
ProfilerPtr = POINTER(ergon_gpu_profiler)
DpkWorkloadPtr = POINTER(ergon_dpk_workload)
DpkResultPtr = POINTER(ergon_dpk_result)
DpkOnlinePtr = POINTER(ergon_dpk_online)
BatcherPtr = POINTER(ergon_orloj_batcher)
SimulationPtr = POINTER(ergon_orloj_simulation)
ZeusPloPtr = POINTER(ergon_zeus_power_limit_optimizer)
ZeusBsoPtr = POINTER(ergon_zeus_batch_size_optimizer)
ChaseForecasterPtr = POINTER(ergon_chase_forecaster)
OobleckTemplatesPtr = POINTER(ergon_oobleck_templates)
OobleckPlanPtr = POINTER(ergon_oobleck_plan)
AuxoClustererPtr = POINTER(ergon_auxo_clusterer)
_size_p = POINTER(c_size_t)
_double_p = POINTER(c_double)
_char_buf = POINTER(c_char)
# An input string: pointer and length in bytes (c_char_p passes a bytes object's buffer).
_str_in = [c_char_p, c_size_t]


def _filled(item: Any) -> List[Any]:
    """The tail of an ask-the-length-then-fill output: ``item *buf, size_t cap, size_t *len``."""
    return [POINTER(item), c_size_t, _size_p]


def _text_out(handle: Any) -> Tuple[Any, List[Any]]:
    """``ergon_status f(handle, char *buf, size_t cap, size_t *len)``: to_json, last_error..."""
    return (ergon_status, [handle, _char_buf, c_size_t, _size_p])


# The names of a C enumeration's codes, from the library: ``f(code, buf, cap, len)`` and
# ``f(name, name_len, uint32_t *out)`` (see :mod:`ergon._names`).
_code_name = (ergon_status, [c_uint32, _char_buf, c_size_t, _size_p])
_name_code = (ergon_status, [*_str_in, POINTER(c_uint32)])
NAMED_ENUMS: Dict[str, str] = {
    "ERGON_DPK_SCHEDULER_": "ergon_dpk_scheduler",
    "ERGON_DPK_KNAPSACK_": "ergon_dpk_knapsack",
    "ERGON_DPK_DPF_CAPACITY_": "ergon_dpk_dpf_capacity",
    "ERGON_DPK_CONVERSION_": "ergon_dpk_conversion",
    "ERGON_ORLOJ_ESTIMATE_": "ergon_orloj_estimate",
    "ERGON_PERSEUS_SCHEDULE_": "ergon_perseus_schedule",
    "ERGON_PERSEUS_KIND_": "ergon_perseus_kind",
    "ERGON_PERSEUS_EFFECTIVE_ENERGY_": "ergon_perseus_effective_energy",
}
"""The C enumerations whose names the library gives: constant prefix -> the stem of their
``_name`` and ``_parse`` functions."""


def _curve(*params: Any) -> Tuple[Any, List[Any]]:
    """An RDP curve on given orders: ``f(alphas, num_alphas, params..., out, cap, len)``."""
    return (ergon_status, [_double_p, c_size_t, *params, *_filled(c_double)])


def _dp_conversion() -> Tuple[Any, List[Any]]:
    """``f(alphas, n, curve, curve_len, target, conversion, double *out, size_t *alpha_index)``."""
    return (
        ergon_status,
        [_double_p, c_size_t, _double_p, c_size_t, c_double, c_uint32, _double_p, _size_p],
    )


# name -> (restype, argtypes), in the order of ergon.h.
PROTOTYPES: Dict[str, Tuple[object, List[object]]] = {
    "ergon_auxo_options_default": (ergon_auxo_options, []),
    "ergon_auxo_clusterer_new": (
        ergon_status,
        [POINTER(ergon_auxo_options), POINTER(AuxoClustererPtr)],
    ),
    "ergon_auxo_clusterer_step": (
        ergon_status,
        [
            AuxoClustererPtr,
            c_uint32,
            POINTER(c_uint32),
            c_size_t,
            POINTER(c_float),
            c_size_t,
            POINTER(ergon_auxo_step_result),
        ],
    ),
    "ergon_auxo_clusterer_cohort_of": (
        ergon_status,
        [AuxoClustererPtr, c_uint32, POINTER(c_uint32)],
    ),
    "ergon_auxo_clusterer_best_cohort": (
        ergon_status,
        [AuxoClustererPtr, c_uint32, POINTER(c_uint32)],
    ),
    "ergon_auxo_clusterer_num_cohorts": (ergon_status, [AuxoClustererPtr, POINTER(c_uint32)]),
    "ergon_auxo_clusterer_members": (
        ergon_status,
        [AuxoClustererPtr, c_uint32, POINTER(c_uint64)],
    ),
    "ergon_auxo_clusterer_assignment": (ergon_status, [AuxoClustererPtr, *_filled(c_uint32)]),
    "ergon_auxo_clusterer_free": (None, [AuxoClustererPtr]),
    "ergon_auxo_clusterer_last_error": _text_out(AuxoClustererPtr),
    "ergon_oobleck_options_default": (ergon_oobleck_options, []),
    "ergon_oobleck_templates_from_json": (
        ergon_status,
        [*_str_in, POINTER(ergon_oobleck_options), POINTER(OobleckTemplatesPtr)],
    ),
    "ergon_oobleck_templates_free": (None, [OobleckTemplatesPtr]),
    "ergon_oobleck_templates_summary": (
        ergon_status,
        [OobleckTemplatesPtr, POINTER(ergon_oobleck_templates_info)],
    ),
    "ergon_oobleck_templates_get": (
        ergon_status,
        [OobleckTemplatesPtr, c_uint32, POINTER(ergon_oobleck_template)],
    ),
    "ergon_oobleck_templates_to_json": _text_out(OobleckTemplatesPtr),
    "ergon_oobleck_templates_last_error": _text_out(OobleckTemplatesPtr),
    "ergon_oobleck_plan_create": (
        ergon_status,
        [OobleckTemplatesPtr, c_uint32, c_uint64, POINTER(OobleckPlanPtr)],
    ),
    "ergon_oobleck_plan_reconfigure": (
        ergon_status,
        [OobleckPlanPtr, POINTER(c_uint32), c_size_t, POINTER(OobleckPlanPtr)],
    ),
    "ergon_oobleck_plan_free": (None, [OobleckPlanPtr]),
    "ergon_oobleck_plan_summary": (
        ergon_status,
        [OobleckPlanPtr, POINTER(ergon_oobleck_plan_info)],
    ),
    "ergon_oobleck_plan_pipeline": (
        ergon_status,
        [OobleckPlanPtr, c_size_t, POINTER(ergon_oobleck_pipeline)],
    ),
    "ergon_oobleck_plan_to_json": _text_out(OobleckPlanPtr),
    "ergon_oobleck_plan_last_error": _text_out(OobleckPlanPtr),
    "ergon_dpk_options_default": (ergon_dpk_options, []),
    "ergon_dpk_workload_new": (
        ergon_status,
        [POINTER(ergon_dpk_problem), POINTER(DpkWorkloadPtr)],
    ),
    "ergon_dpk_workload_from_json": (ergon_status, [*_str_in, POINTER(DpkWorkloadPtr)]),
    "ergon_dpk_workload_free": (None, [DpkWorkloadPtr]),
    "ergon_dpk_workload_summary": (
        ergon_status,
        [DpkWorkloadPtr, POINTER(ergon_dpk_workload_info)],
    ),
    "ergon_dpk_workload_alphas": (ergon_status, [DpkWorkloadPtr, *_filled(c_double)]),
    "ergon_dpk_workload_to_json": _text_out(DpkWorkloadPtr),
    "ergon_dpk_workload_last_error": _text_out(DpkWorkloadPtr),
    "ergon_dpk_workload_schedule": (
        ergon_status,
        [DpkWorkloadPtr, POINTER(ergon_dpk_options), POINTER(DpkResultPtr)],
    ),
    "ergon_dpk_result_free": (None, [DpkResultPtr]),
    "ergon_dpk_result_summary": (ergon_status, [DpkResultPtr, POINTER(ergon_dpk_result_info)]),
    "ergon_dpk_result_allocated": (ergon_status, [DpkResultPtr, *_filled(c_uint64)]),
    "ergon_dpk_result_block_ids": (ergon_status, [DpkResultPtr, *_filled(c_uint64)]),
    "ergon_dpk_result_remaining": (ergon_status, [DpkResultPtr, *_filled(c_double)]),
    "ergon_dpk_result_to_json": _text_out(DpkResultPtr),
    "ergon_dpk_result_last_error": _text_out(DpkResultPtr),
    "ergon_dpk_online_run_json": (
        ergon_status,
        [*_str_in, POINTER(ergon_dpk_options), POINTER(DpkOnlinePtr)],
    ),
    "ergon_dpk_online_free": (None, [DpkOnlinePtr]),
    "ergon_dpk_online_summary": (ergon_status, [DpkOnlinePtr, POINTER(ergon_dpk_online_info)]),
    "ergon_dpk_online_allocated": (ergon_status, [DpkOnlinePtr, *_filled(c_uint64)]),
    "ergon_dpk_online_to_json": _text_out(DpkOnlinePtr),
    "ergon_dpk_online_last_error": _text_out(DpkOnlinePtr),
    "ergon_dpk_alphas_standard": (ergon_status, _filled(c_double)),
    "ergon_dpk_block_capacity": _curve(c_double, c_double),
    "ergon_dpk_curve_gaussian": _curve(c_double),
    "ergon_dpk_curve_subsampled_gaussian": _curve(c_double, c_double, c_double),
    "ergon_dpk_gaussian_sigma": (ergon_status, [c_double, c_double, _double_p]),
    "ergon_dpk_gaussian_sigma_classic": (ergon_status, [c_double, c_double, _double_p]),
    "ergon_dpk_gaussian_delta": (ergon_status, [c_double, c_double, _double_p]),
    "ergon_dpk_alphas_dense": (ergon_status, _filled(c_double)),
    "ergon_dpk_block_capacity_with": _curve(c_double, c_double, c_uint32),
    "ergon_dpk_curve_laplace": _curve(c_double),
    "ergon_dpk_curve_subsampled_laplace": _curve(c_double, c_double, c_double),
    "ergon_dpk_curve_compose": (
        ergon_status,
        [_double_p, c_size_t, c_size_t, _double_p, *_filled(c_double)],
    ),
    "ergon_dpk_curve_dp_delta": _dp_conversion(),
    "ergon_dpk_curve_dp_epsilon": _dp_conversion(),
    "ergon_orloj_batcher_options_default": (ergon_orloj_batcher_options, []),
    "ergon_orloj_batcher_new": (
        ergon_status,
        [
            POINTER(ergon_orloj_app),
            c_size_t,
            _double_p,
            c_size_t,
            POINTER(ergon_orloj_batcher_options),
            POINTER(BatcherPtr),
        ],
    ),
    "ergon_orloj_batcher_from_json": (
        ergon_status,
        [*_str_in, *_str_in, POINTER(BatcherPtr)],
    ),
    "ergon_orloj_batcher_free": (None, [BatcherPtr]),
    "ergon_orloj_batcher_enqueue": (
        ergon_status,
        [BatcherPtr, c_size_t, c_uint64, c_double, c_double],
    ),
    "ergon_orloj_batcher_enqueue_slo": (ergon_status, [BatcherPtr, c_size_t, c_uint64, c_double]),
    "ergon_orloj_batcher_next_batch": (
        ergon_status,
        [BatcherPtr, c_double, *_filled(c_uint64), *_filled(c_uint64), _double_p],
    ),
    "ergon_orloj_batcher_complete": (ergon_status, [BatcherPtr, c_size_t, c_double]),
    "ergon_orloj_batcher_batch_done": (ergon_status, [BatcherPtr, c_double]),
    "ergon_orloj_batcher_queued": (ergon_status, [BatcherPtr, _size_p]),
    "ergon_orloj_batcher_max_batch_size": (ergon_status, [BatcherPtr, _size_p]),
    "ergon_orloj_batcher_num_apps": (ergon_status, [BatcherPtr, _size_p]),
    "ergon_orloj_batcher_app_stats": (
        ergon_status,
        [BatcherPtr, c_size_t, POINTER(ergon_orloj_app_stats)],
    ),
    "ergon_orloj_batcher_policy_name": _text_out(BatcherPtr),
    "ergon_orloj_batcher_last_error": _text_out(BatcherPtr),
    "ergon_orloj_simulation_run_json": (ergon_status, [*_str_in, POINTER(SimulationPtr)]),
    "ergon_orloj_simulation_to_json": _text_out(SimulationPtr),
    "ergon_orloj_simulation_free": (None, [SimulationPtr]),
    "ergon_orloj_simulation_last_error": _text_out(SimulationPtr),
    "ergon_chase_forecaster_train": (
        ergon_status,
        [
            _double_p,
            c_size_t,
            c_size_t,
            c_size_t,
            c_size_t,
            *_str_in,
            POINTER(ChaseForecasterPtr),
        ],
    ),
    "ergon_chase_forecaster_predict": (
        ergon_status,
        [ChaseForecasterPtr, c_size_t, c_double, _double_p],
    ),
    "ergon_chase_forecaster_free": (None, [ChaseForecasterPtr]),
    "ergon_chase_forecaster_last_error": _text_out(ChaseForecasterPtr),
    "ergon_perseus_frontier_new": (
        ergon_status,
        [POINTER(ergon_perseus_problem), POINTER(FrontierPtr)],
    ),
    "ergon_perseus_frontier_from_instance_json": (
        ergon_status,
        [*_str_in, POINTER(FrontierPtr)],
    ),
    "ergon_perseus_frontier_from_profile_csv": (
        ergon_status,
        [
            *_str_in,
            POINTER(ergon_perseus_pipeline),
            c_double,
            c_double,
            c_uint32,
            POINTER(FrontierPtr),
        ],
    ),
    "ergon_perseus_frontier_free": (None, [FrontierPtr]),
    "ergon_perseus_frontier_solve": (ergon_status, [FrontierPtr]),
    "ergon_perseus_solve_options_default": (ergon_perseus_solve_options, []),
    "ergon_perseus_frontier_solve_with_options": (
        ergon_status,
        [FrontierPtr, POINTER(ergon_perseus_solve_options)],
    ),
    "ergon_perseus_frontier_num_points": (ergon_status, [FrontierPtr, _size_p]),
    "ergon_perseus_frontier_point": (
        ergon_status,
        [FrontierPtr, c_size_t, POINTER(ergon_perseus_point)],
    ),
    "ergon_perseus_frontier_points": (ergon_status, [FrontierPtr, *_filled(ergon_perseus_point)]),
    "ergon_perseus_frontier_summary": (
        ergon_status,
        [FrontierPtr, POINTER(ergon_perseus_summary)],
    ),
    "ergon_perseus_frontier_to_json": _text_out(FrontierPtr),
    "ergon_perseus_frontier_plan": (
        ergon_status,
        [FrontierPtr, c_uint32, c_double, POINTER(PlanPtr)],
    ),
    "ergon_perseus_frontier_last_error": _text_out(FrontierPtr),
    "ergon_perseus_plan_free": (None, [PlanPtr]),
    "ergon_perseus_plan_summary": (ergon_status, [PlanPtr, POINTER(ergon_perseus_plan_info)]),
    "ergon_perseus_plan_stage": (
        ergon_status,
        [PlanPtr, c_size_t, POINTER(c_uint32), *_filled(c_uint32)],
    ),
    "ergon_perseus_plan_from_json": (ergon_status, [*_str_in, POINTER(PlanPtr)]),
    "ergon_perseus_plan_to_json": _text_out(PlanPtr),
    "ergon_perseus_plan_last_error": _text_out(PlanPtr),
    "ergon_gpu_state_restore": (ergon_status, [_size_p]),
    "ergon_gpu_device_count": (ergon_status, [POINTER(c_uint32)]),
    "ergon_gpu_device_get_info": (ergon_status, [c_uint32, POINTER(ergon_gpu_device_info)]),
    "ergon_gpu_executor_new": (
        ergon_status,
        [*_str_in, PlanPtr, c_size_t, POINTER(ExecutorPtr)],
    ),
    "ergon_gpu_executor_instruction_begin": (ergon_status, [ExecutorPtr, c_uint32]),
    "ergon_gpu_executor_step_end": (ergon_status, [ExecutorPtr]),
    "ergon_gpu_executor_set_plan": (ergon_status, [ExecutorPtr, PlanPtr, c_size_t]),
    "ergon_gpu_executor_wait_applied": (ergon_status, [ExecutorPtr]),
    "ergon_gpu_executor_free": (None, [ExecutorPtr]),
    "ergon_gpu_executor_last_error": _text_out(ExecutorPtr),
    "ergon_gpu_energy_monitor_new": (ergon_status, [*_str_in, POINTER(MonitorPtr)]),
    "ergon_gpu_energy_monitor_begin": (ergon_status, [MonitorPtr, *_str_in]),
    "ergon_gpu_energy_monitor_end": (
        ergon_status,
        [MonitorPtr, *_str_in, _double_p, _double_p],
    ),
    "ergon_gpu_energy_monitor_free": (None, [MonitorPtr]),
    "ergon_gpu_energy_monitor_last_error": _text_out(MonitorPtr),
    "ergon_gpu_profiler_options_default": (ergon_gpu_profiler_options, []),
    "ergon_gpu_profiler_new": (
        ergon_status,
        [*_str_in, c_size_t, POINTER(ergon_gpu_profiler_options), POINTER(ProfilerPtr)],
    ),
    "ergon_gpu_profiler_instruction_begin": (ergon_status, [ProfilerPtr, *_str_in]),
    "ergon_gpu_profiler_instruction_end": (ergon_status, [ProfilerPtr, *_str_in]),
    "ergon_gpu_profiler_step_end": (ergon_status, [ProfilerPtr, POINTER(c_bool)]),
    "ergon_gpu_profiler_get_progress": (
        ergon_status,
        [ProfilerPtr, POINTER(ergon_gpu_profiler_progress)],
    ),
    "ergon_gpu_profiler_p_blocking_w": (ergon_status, [ProfilerPtr, _double_p]),
    "ergon_gpu_profiler_to_csv": _text_out(ProfilerPtr),
    "ergon_gpu_profiler_free": (None, [ProfilerPtr]),
    "ergon_gpu_profiler_last_error": _text_out(ProfilerPtr),
    "ergon_zeus_power_limit_options_default": (ergon_zeus_power_limit_options, []),
    "ergon_zeus_power_limit_optimizer_new": (
        ergon_status,
        [
            POINTER(c_char_p),
            _size_p,
            c_size_t,
            POINTER(ergon_zeus_power_limit_options),
            POINTER(ZeusPloPtr),
        ],
    ),
    "ergon_zeus_power_limit_optimizer_on_step_begin": (ergon_status, [ZeusPloPtr]),
    "ergon_zeus_power_limit_optimizer_on_epoch_end": (ergon_status, [ZeusPloPtr]),
    "ergon_zeus_power_limit_optimizer_get_state": (
        ergon_status,
        [ZeusPloPtr, POINTER(ergon_zeus_power_limit_state)],
    ),
    "ergon_zeus_power_limit_optimizer_profile_json": _text_out(ZeusPloPtr),
    "ergon_zeus_power_limit_optimizer_free": (None, [ZeusPloPtr]),
    "ergon_zeus_power_limit_optimizer_last_error": _text_out(ZeusPloPtr),
    "ergon_zeus_batch_size_options_default": (ergon_zeus_batch_size_options, []),
    "ergon_zeus_batch_size_optimizer_new": (
        ergon_status,
        [
            POINTER(c_uint32),
            c_size_t,
            c_uint32,
            POINTER(ergon_zeus_batch_size_options),
            POINTER(ZeusBsoPtr),
        ],
    ),
    "ergon_zeus_batch_size_optimizer_from_json": (ergon_status, [*_str_in, POINTER(ZeusBsoPtr)]),
    "ergon_zeus_batch_size_optimizer_to_json": _text_out(ZeusBsoPtr),
    "ergon_zeus_batch_size_optimizer_next_batch_size": (
        ergon_status,
        [ZeusBsoPtr, POINTER(c_uint32)],
    ),
    "ergon_zeus_batch_size_optimizer_report": (
        ergon_status,
        [ZeusBsoPtr, c_uint32, c_double, c_double, c_bool],
    ),
    "ergon_zeus_batch_size_optimizer_report_cost": (
        ergon_status,
        [ZeusBsoPtr, c_uint32, c_double, c_bool],
    ),
    "ergon_zeus_batch_size_optimizer_cost_limit": (ergon_status, [ZeusBsoPtr, _double_p]),
    "ergon_zeus_batch_size_optimizer_free": (None, [ZeusBsoPtr]),
    "ergon_zeus_batch_size_optimizer_last_error": _text_out(ZeusBsoPtr),
    "ergon_perseus_profile_merge_csv": (
        ergon_status,
        [POINTER(c_char_p), _size_p, c_size_t, _char_buf, c_size_t, _size_p],
    ),
    **{f"{stem}_name": _code_name for stem in NAMED_ENUMS.values()},
    **{f"{stem}_parse": _name_code for stem in NAMED_ENUMS.values()},
    "ergon_orloj_policy_name": (ergon_status, [c_uint32, *_code_name[1]]),
    "ergon_orloj_policy_parse": (ergon_status, [*_name_code[1], POINTER(c_uint32)]),
    "ergon_version": (c_char_p, []),
    "ergon_abi_version": (c_uint32, []),
    "ergon_status_str": (c_char_p, [c_int]),
    "ergon_last_error": (ergon_status, [_char_buf, c_size_t, _size_p]),
}
