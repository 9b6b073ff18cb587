"""``ergon.hooks`` (the DeepSpeed and Megatron trainer hooks) against the fake NVML.

The Python step of CI has neither DeepSpeed, Megatron nor torch, so the scenarios run against
STAND-INS: minimal modules inserted into ``sys.modules`` under the real names
(``deepspeed.runtime.pipe.schedule``/``.engine``, ``megatron.core.pipeline_parallel.schedules``)
that have exactly the real method and function names and signatures the hooks wrap, and the same
dispatch: the stand-in ``PipelineEngine._exec_schedule`` binds each command's function from the
class-level ``_INSTRUCTION_MAP`` with ``MethodType`` as DeepSpeed does, and the stand-in
``forward_backward_*`` functions call the module-level ``forward_step``/``backward_step``
through the module's globals as Megatron does. They are test doubles, not the frameworks.
Where the real frameworks are importable, ``test_real_*`` additionally checks the hooks against
the real classes (skipped otherwise).

Every scenario runs in a child Python process (NVML state and the environment are
process-global), as in ``test_gpu.py``; the child prints one JSON line that the test checks,
together with the fake's call log and state file.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest
from conftest import profile_csv_text, run_child, run_python
from frameworks.harness import SHUTDOWN, STARTUP, require

# Two stages, two microbatches, the same profiles for both stages. At T* stage 0 runs
# F F B B (1F1B: one warm-up forward) at [1200, 1200, 1005, 1005] MHz and stage 1 runs
# F B F B: both assertions are in the tests, so a change of the solver shows up there first.
PROFILE_CSV = profile_csv_text(2)

# The fake GPU starts below its 400 W default power limit, so that the executor's startup
# changes it and the restore must bring back 300 W.
INITIAL_STATE = "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0\n"

STANDINS = r'''
import sys, types
from types import MethodType

def _standin_module(name, source=""):
    """A STAND-IN module registered under a real framework's name (not the framework)."""
    module = types.ModuleType(name)
    module.__ergon_standin__ = True
    exec(source, module.__dict__)  # functions defined here look names up in this module
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module

def one_f_one_b(micro_batches, stages, stage_id):
    """(kind, microbatch) in 1F1B order for one stage."""
    warmup = min(stages - stage_id - 1, micro_batches)
    order = [("forward", i) for i in range(warmup)]
    f, b = warmup, 0
    while f < micro_batches:
        order += [("forward", f), ("backward", b)]
        f += 1
        b += 1
    while b < micro_batches:
        order.append(("backward", b))
        b += 1
    return order

for _pkg in ["deepspeed", "deepspeed.runtime", "deepspeed.runtime.pipe", "megatron",
             "megatron.core", "megatron.core.pipeline_parallel"]:
    _standin_module(_pkg)

# --- STAND-IN of deepspeed.runtime.pipe.schedule: instruction classes and the two schedules.
_standin_module("deepspeed.runtime.pipe.schedule", """
class PipeInstruction:
    def __init__(self, **kwargs):
        self.name = self.__class__.__name__
        self.kwargs = kwargs
class OptimizerStep(PipeInstruction): pass
class ReduceGrads(PipeInstruction): pass
class BufferOpInstruction(PipeInstruction):
    def __init__(self, buffer_id, **kwargs):
        super().__init__(buffer_id=buffer_id, **kwargs)
class LoadMicroBatch(BufferOpInstruction): pass
class ForwardPass(BufferOpInstruction): pass
class BackwardPass(BufferOpInstruction): pass
class SendActivation(BufferOpInstruction): pass
class RecvGrad(BufferOpInstruction): pass

class TrainSchedule:
    def __init__(self, micro_batches, stages, stage_id):
        self.micro_batches, self.stages, self.stage_id = micro_batches, stages, stage_id
    def __iter__(self):
        for kind, mb in one_f_one_b(self.micro_batches, self.stages, self.stage_id):
            if kind == "forward":
                yield [LoadMicroBatch(mb), ForwardPass(mb), SendActivation(mb)]
            else:
                yield [RecvGrad(mb), BackwardPass(mb)]
        yield [ReduceGrads(), OptimizerStep()]

class InferenceSchedule(TrainSchedule):
    def __iter__(self):
        for mb in range(self.micro_batches):
            yield [LoadMicroBatch(mb), ForwardPass(mb)]
""")
sys.modules["deepspeed.runtime.pipe.schedule"].one_f_one_b = one_f_one_b

# --- STAND-IN of deepspeed.runtime.pipe.engine.PipelineEngine (the real one derives from
# DeepSpeedEngine/torch.nn.Module): the real names, signatures and MethodType dispatch.
_standin_module("deepspeed.runtime.pipe.engine", """
from types import MethodType
from deepspeed.runtime.pipe import schedule

class StandInFailure(RuntimeError):
    pass

class PipelineEngine:
    def __init__(self, num_stages=2, stage_id=0, micro_batches=2, compute=None):
        self.num_stages, self.stage_id, self.micro_batches = num_stages, stage_id, micro_batches
        self.compute = compute or (lambda kind, buffer_id: None)
        self.calls = []          # what ran: ("forward" | "backward", buffer_id)
        self.results = []        # what each dispatched instruction returned
        self.fail_at = None      # ("backward", buffer_id): that pass raises StandInFailure
        self.batches = 0

    def train_batch(self, data_iter=None):
        self.batches += 1
        sched = schedule.TrainSchedule(micro_batches=self.micro_batches, stages=self.num_stages,
                                       stage_id=self.stage_id)
        self._exec_schedule(sched)
        return ("loss", self.batches)

    def eval_batch(self, data_iter, return_logits=False, compute_loss=True, reduce_output="avg",
                   bcast_loss=True, num_micro_batches=None):
        sched = schedule.InferenceSchedule(micro_batches=self.micro_batches,
                                           stages=self.num_stages, stage_id=self.stage_id)
        self._exec_schedule(sched)
        return ("eval", self.batches)

    def _exec_load_micro_batch(self, buffer_id):
        return None
    def _exec_send_activations(self, buffer_id):
        return None
    def _exec_recv_grads(self, buffer_id):
        return None
    def _exec_reduce_grads(self):
        return None
    def _exec_optimizer_step(self, lr_kwargs=None):
        return None

    def _exec_forward_pass(self, buffer_id):
        self.compute("forward", buffer_id)
        self.calls.append(("forward", buffer_id))
        return ("forward-result", buffer_id)

    def _exec_backward_pass(self, buffer_id):
        if self.fail_at == ("backward", buffer_id):
            raise StandInFailure(f"backward {buffer_id} failed")
        self.compute("backward", buffer_id)
        self.calls.append(("backward", buffer_id))
        return ("backward-result", buffer_id)

    _INSTRUCTION_MAP = {
        schedule.OptimizerStep: _exec_optimizer_step,
        schedule.ReduceGrads: _exec_reduce_grads,
        schedule.LoadMicroBatch: _exec_load_micro_batch,
        schedule.ForwardPass: _exec_forward_pass,
        schedule.BackwardPass: _exec_backward_pass,
        schedule.SendActivation: _exec_send_activations,
        schedule.RecvGrad: _exec_recv_grads,
    }

    def _exec_schedule(self, pipe_schedule):
        for step_cmds in pipe_schedule:
            for cmd in step_cmds:
                if type(cmd) not in self._INSTRUCTION_MAP:
                    raise RuntimeError(f"{self.__class__.__name__} does not understand {cmd!r}")
                self._exec_instr = MethodType(self._INSTRUCTION_MAP[type(cmd)], self)
                self.results.append(self._exec_instr(**cmd.kwargs))
""")

# --- STAND-IN of megatron.core.pipeline_parallel.schedules: forward_step/backward_step with the
# real signatures, called by the schedule functions through this module's globals.
_standin_module("megatron.core.pipeline_parallel.schedules", """
STAGE = {"stage": 0, "stages": 2}
COMPUTE = {"fn": lambda kind, microbatch: None}
FAIL_AT = {"at": None}
CALLS = []

class StandInFailure(RuntimeError):
    pass

def forward_step(forward_step_func, data_iterator, model, num_microbatches, input_tensor,
                 forward_data_store, config, collect_non_loss_data=False,
                 checkpoint_activations_microbatch=None, is_first_microbatch=False,
                 current_microbatch=None, encoder_decoder_xattn=False):
    COMPUTE["fn"]("forward", current_microbatch)
    CALLS.append(("forward", current_microbatch))
    output_tensor = forward_step_func(data_iterator, model)
    forward_data_store.append(output_tensor)
    return output_tensor, 1

def backward_step(input_tensor, output_tensor, output_tensor_grad, model_type, config):
    if FAIL_AT["at"] == ("backward", output_tensor):
        raise StandInFailure(f"backward of {output_tensor!r} failed")
    COMPUTE["fn"]("backward", output_tensor)
    CALLS.append(("backward", output_tensor))
    return ("input-grad", output_tensor)

def forward_backward_pipelining_without_interleaving(
        *, forward_step_func, data_iterator, model, num_microbatches, seq_length,
        micro_batch_size, decoder_seq_length=None, forward_only=False,
        collect_non_loss_data=False, first_val_step=None):
    store, grads, outputs = [], [], {}
    order = ([("forward", i) for i in range(num_microbatches)] if forward_only else
             one_f_one_b(num_microbatches, STAGE["stages"], STAGE["stage"]))
    for kind, mb in order:
        if kind == "forward":
            outputs[mb], _ = forward_step(forward_step_func, data_iterator, model,
                                          num_microbatches, None, store, None,
                                          current_microbatch=mb)
        else:
            grads.append(backward_step(None, outputs[mb], None, None, None))
    return {"store": store, "grads": grads}

def forward_backward_no_pipelining(
        *, forward_step_func, data_iterator, model, num_microbatches, seq_length,
        micro_batch_size, decoder_seq_length=None, forward_only=False,
        collect_non_loss_data=False, first_val_step=None):
    store = []
    for mb in range(num_microbatches):
        out, _ = forward_step(forward_step_func, data_iterator, model, num_microbatches, None,
                              store, None, current_microbatch=mb)
        if not forward_only:
            backward_step(None, out, None, None, None)
    return {"store": store}

def get_forward_backward_func():
    if STAGE["stages"] > 1:
        return forward_backward_pipelining_without_interleaving
    return forward_backward_no_pipelining
""")
sys.modules["megatron.core.pipeline_parallel.schedules"].one_f_one_b = one_f_one_b
'''

COMMON = f"""
from ergon.hooks import DeepSpeedHook, MegatronHook
STATE_PATH = __import__("os").environ["FAKE_NVML_STATE"]
def frontier():
    return ergon.Frontier.from_profile_csv_text(
        {PROFILE_CSV!r}, stages=2, microbatches=2, unit_time_s=0.001, p_blocking_w=60.0)
def locked():
    line = open(STATE_PATH).read().splitlines()[0]
    return line.split()[1]      # "gpu_locked=..."
"""
HOOK_PRELUDE = STANDINS + COMMON

# The NVML calls of starting a plan executor through the C ABI and of closing it (shared with
# the real-framework tests).


def lock(mhz: int) -> str:
    return f"nvmlDeviceSetGpuLockedClocks dev=0 min={mhz} max={mhz} -> SUCCESS"


def scenario(tmp_path: Path, nvml: Path, code: str, standins: bool = True) -> Dict[str, Any]:
    """Runs ``code`` with the stand-ins and the fake NVML; returns the child's result plus the
    fake's ``log`` lines and final ``state`` line."""
    state = tmp_path / "fake-state"
    state.write_text(INITIAL_STATE)
    log = tmp_path / "fake-log"
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    got = run_child(
        (HOOK_PRELUDE if standins else COMMON) + textwrap.dedent(code),
        {
            "FAKE_NVML_STATE": str(state),
            "FAKE_NVML_LOG": str(log),
            "ERGON_STATE_DIR": str(state_dir),
        },
        nvml,
    )
    got["log"] = log.read_text().splitlines()
    got["state"] = state.read_text().splitlines()[0]
    return got


def plan_locks(program: List[List[Any]], iterations: int) -> List[int]:
    """The locks a program needs: the startup lock at the maximum (1410), then one per change,
    the plan's highest clock between iterations included (the executor applies the last
    request before it shuts down)."""
    locks, last = [1410], 1410
    between = max((mhz for _kind, mhz in program if mhz), default=1410)
    for _ in range(iterations):
        for mhz in [mhz for _kind, mhz in program] + [between]:
            if mhz != 0 and mhz != last:
                locks.append(mhz)
                last = mhz
    return locks


# ----------------------------------------------------------------------------------------------
# DeepSpeed


def test_deepspeed_hook_two_iterations_exact_nvml_calls(fake_nvml: Path, tmp_path: Path) -> None:
    got = scenario(
        tmp_path,
        fake_nvml,
        """
        from deepspeed.runtime.pipe.engine import PipelineEngine
        f = frontier()
        program = f.plan().stages[0]
        events = []
        ex = gpu.PlanExecutor("0", f, 0)
        def compute(kind, buffer_id):
            ex.wait_applied()              # a computation longer than the setter's latency
            events.append([kind, buffer_id, locked()])
        engine = PipelineEngine(num_stages=2, stage_id=0, micro_batches=2, compute=compute)
        original_map = PipelineEngine._INSTRUCTION_MAP
        hook = DeepSpeedHook(ex, sync=lambda: events.append("sync"))
        assert hook.install(engine) is hook
        installed = sorted(k for k in ("_exec_forward_pass", "_exec_backward_pass",
                                       "train_batch", "_INSTRUCTION_MAP") if k in vars(engine))
        losses = [engine.train_batch()]
        evaluated = engine.eval_batch(iter([]))   # not in the plan: runs untouched
        losses.append(engine.train_batch())
        passes = [r for r in engine.results if r is not None]
        hook.close()
        left = [k for k in ("_exec_forward_pass", "_exec_backward_pass", "train_batch",
                            "_INSTRUCTION_MAP") if k in vars(engine)]
        emit(program=program, events=events, losses=losses, evaluated=evaluated,
             passes=passes, installed=installed, left=left, iterations=hook.iterations,
             closed=[hook.closed, ex.closed],
             map_kept=PipelineEngine._INSTRUCTION_MAP is original_map,
             calls=engine.calls, restored=gpu.restore())
        """,
    )
    program = got["program"]
    assert program == [["forward", 1200], ["forward", 1200], ["backward", 1005], ["backward", 1005]]
    # Two iterations of 4 computations: only the two changes per iteration reach NVML.
    locks = plan_locks(program, 2)
    assert locks == [1410, 1200, 1005, 1200, 1005, 1200]
    assert got["log"] == STARTUP + [lock(m) for m in locks[1:]] + SHUTDOWN
    assert got["state"] == INITIAL_STATE.strip()
    assert got["restored"] == 0  # close() already put everything back

    # Each pass ran at its planned clock, after a device sync.
    iteration: List[Any] = []
    for (kind, mhz), mb in zip(program, [0, 1, 0, 1]):
        iteration += ["sync", [kind, mb, f"gpu_locked={mhz}:{mhz}"]]
    # The eval batch's two forward passes come between the iterations, without a sync, at the
    # between-iterations clock (the plan's highest): they are not applied.
    eval_passes = [["forward", 0, "gpu_locked=1200:1200"], ["forward", 1, "gpu_locked=1200:1200"]]
    assert got["events"] == iteration + eval_passes + iteration

    # Return values pass through the wrappers.
    assert got["losses"] == [["loss", 1], ["loss", 2]]
    assert got["evaluated"] == ["eval", 1]
    fb = [
        ["forward-result", 0],
        ["forward-result", 1],
        ["backward-result", 0],
        ["backward-result", 1],
    ]
    evals = [["forward-result", 0], ["forward-result", 1]]
    assert got["passes"] == fb + evals + fb
    assert got["installed"] == ["_INSTRUCTION_MAP", "_exec_backward_pass", "_exec_forward_pass",
                                "train_batch"]
    assert got["left"] == []  # uninstalled: the instance is back to the class's attributes
    assert got["map_kept"]  # the class's table was never modified
    assert got["iterations"] == 2
    assert got["closed"] == [True, True]


def test_deepspeed_hook_on_the_class_exceptions_mismatch_and_uninstall(
    fake_nvml: Path, tmp_path: Path
) -> None:
    got = scenario(
        tmp_path,
        fake_nvml,
        """
        import deepspeed.runtime.pipe.engine as ds_engine
        PipelineEngine = ds_engine.PipelineEngine
        originals = {k: PipelineEngine.__dict__[k] for k in
                     ("_exec_forward_pass", "_exec_backward_pass", "train_batch",
                      "_INSTRUCTION_MAP")}
        out = {}
        f = frontier()
        ex = gpu.PlanExecutor("0", f, 0)
        hook = DeepSpeedHook(ex, sync=None).install()      # the class, imported lazily
        engine = PipelineEngine(stage_id=0, compute=lambda k, b: ex.wait_applied())
        out["first"] = engine.train_batch()

        # An exception in a pass propagates unchanged; the plan is rewound for the next batch.
        engine.fail_at = ("backward", 1)
        try:
            engine.train_batch()
        except ds_engine.StandInFailure as e:
            out["failure"] = [type(e).__name__, str(e)]
        engine.fail_at = None
        out["after_failure"] = engine.train_batch()

        # A one-stage schedule (F B F B) against the stage-0 plan (F F B B): the backward pass
        # is refused before it runs.
        wrong = PipelineEngine(num_stages=1, stage_id=0, compute=lambda k, b: ex.wait_applied())
        try:
            wrong.train_batch()
        except ergon.ErgonError as e:
            out["mismatch"] = err(e)
            out["mismatch_cause"] = type(e.__cause__).__name__
        out["wrong_calls"] = wrong.calls
        # A stage-1 engine against the stage-0 executor: refused before its first pass.
        other = PipelineEngine(stage_id=1, compute=lambda k, b: ex.wait_applied())
        try:
            other.train_batch()
        except ergon.ErgonError as e:
            out["other_stage"] = err(e)
        out["other_calls"] = other.calls
        out["after_mismatch"] = engine.train_batch()
        out["iterations"] = hook.iterations

        # Installing twice is refused; uninstall restores the class exactly.
        try:
            hook.install()
        except ergon.ErgonError as e:
            out["twice"] = err(e)
        hook.uninstall()
        out["restored_class"] = all(PipelineEngine.__dict__[k] is v for k, v in originals.items())
        plain = PipelineEngine(stage_id=1)
        plain.train_batch()                # not applied: stage 1's order would not match
        out["plain_calls"] = plain.calls
        out["installed_after_uninstall"] = hook.installed
        hook.close()
        out["executor_closed"] = ex.closed
        try:
            DeepSpeedHook(gpu.PlanExecutor("0", f, 0), sync=None).install(object())
        except TypeError as e:
            out["not_engine"] = str(e)
        emit(**out)
        """,
    )
    assert got["first"] == ["loss", 1]
    assert got["failure"] == ["StandInFailure", "backward 1 failed"]
    assert got["after_failure"] == ["loss", 3]
    mismatch = got["mismatch"]
    assert mismatch["status"] == "INVALID_STATE", mismatch
    for part in ("DeepSpeed hook", "_exec_backward_pass", "'backward'", "instruction 1",
                 "plan mismatch", '"forward"'):
        assert part in mismatch["message"], mismatch
    assert got["mismatch_cause"] == "ErgonError"
    assert got["wrong_calls"] == [["forward", 0]]  # the refused backward never ran
    other = got["other_stage"]
    assert other["status"] == "INVALID_ARGUMENT", other
    for part in ("plan of pipeline stage 0", "this rank is pipeline stage 1", "engine.stage_id",
                 "stage=1"):
        assert part in other["message"], other
    assert got["other_calls"] == []
    assert got["after_mismatch"] == ["loss", 4]
    assert got["iterations"] == 3
    assert got["twice"]["status"] == "INVALID_STATE"
    assert got["restored_class"]
    assert got["plain_calls"] == [["forward", 0], ["backward", 0], ["forward", 1], ["backward", 1]]
    assert not got["installed_after_uninstall"]
    assert got["executor_closed"]
    assert "not a DeepSpeed PipelineEngine" in got["not_engine"]
    # The plan is [1200, 1200, 1005, 1005], and every iteration's end (failed ones too) asks
    # for its highest clock, 1200: the first iteration, the failed one (all four instructions
    # were begun before B1 raised), the third, the refused stage-1 one (F0 at 1200: unchanged,
    # B0 refused) and the one after it. Closing restores; the second executor (the TypeError
    # case) only starts, and is closed at interpreter exit by its hook.
    locks = [1200, 1005] * 4 + [1200]
    assert got["log"] == STARTUP + [lock(m) for m in locks] + SHUTDOWN + STARTUP + SHUTDOWN
    assert got["state"] == INITIAL_STATE.strip()


# ----------------------------------------------------------------------------------------------
# Megatron


def test_megatron_hook_two_iterations_exact_nvml_calls(fake_nvml: Path, tmp_path: Path) -> None:
    got = scenario(
        tmp_path,
        fake_nvml,
        """
        import megatron.core.pipeline_parallel.schedules as schedules
        originals = {k: getattr(schedules, k) for k in ("forward_step", "backward_step",
                     "forward_backward_no_pipelining",
                     "forward_backward_pipelining_without_interleaving")}
        f = frontier()
        program = f.plan().stages[0]
        ex = gpu.PlanExecutor("0", f, 0)
        events = []
        def compute(kind, mb):
            ex.wait_applied()
            events.append([kind, mb, locked()])
        schedules.COMPUTE["fn"] = compute
        def step_func(data_iterator, model):
            return ("output", next(data_iterator))
        hook = MegatronHook(ex, sync=lambda: events.append("sync")).install()
        results = []
        for it in range(2):
            run = schedules.get_forward_backward_func()    # looked up after install
            results.append(run(forward_step_func=step_func, data_iterator=iter(range(10)),
                               model=None, num_microbatches=2, seq_length=8,
                               micro_batch_size=1, forward_only=False))
            if it == 0:   # evaluation between the iterations: not applied
                results.append(run(forward_step_func=step_func, data_iterator=iter(range(10)),
                                   model=None, num_microbatches=2, seq_length=8,
                                   micro_batch_size=1, forward_only=True))
        with hook:
            pass
        restored = all(getattr(schedules, k) is v for k, v in originals.items())
        emit(program=program, events=events, results=results, restored=restored,
             iterations=hook.iterations, closed=ex.closed)
        """,
    )
    program = got["program"]
    assert program == [["forward", 1200], ["forward", 1200], ["backward", 1005], ["backward", 1005]]
    locks = plan_locks(program, 2)
    assert got["log"] == STARTUP + [lock(m) for m in locks[1:]] + SHUTDOWN
    assert got["state"] == INITIAL_STATE.strip()
    # forward_step's backward_step gets the forward output ("output", n) as output_tensor.
    one = [
        "sync", ["forward", 0, "gpu_locked=1200:1200"],
        "sync", ["forward", 1, "gpu_locked=1200:1200"],
        "sync", ["backward", ["output", 0], "gpu_locked=1005:1005"],
        "sync", ["backward", ["output", 1], "gpu_locked=1005:1005"],
    ]
    evaluation = [["forward", 0, "gpu_locked=1200:1200"], ["forward", 1, "gpu_locked=1200:1200"]]
    assert got["events"] == one + evaluation + one
    # Return values pass through forward_step, backward_step and the schedule function.
    train = {"store": [["output", 0], ["output", 1]],
             "grads": [["input-grad", ["output", 0]], ["input-grad", ["output", 1]]]}
    assert got["results"] == [train, {"store": [["output", 0], ["output", 1]], "grads": []}, train]
    assert got["restored"]
    assert got["iterations"] == 2
    assert got["closed"]


def test_megatron_hook_explicit_steps_exceptions_mismatch(fake_nvml: Path, tmp_path: Path) -> None:
    got = scenario(
        tmp_path,
        fake_nvml,
        """
        import megatron.core.pipeline_parallel.schedules as schedules
        forward_step, backward_step = schedules.forward_step, schedules.backward_step
        f = frontier()
        ex = gpu.PlanExecutor("0", f, 0)
        schedules.COMPUTE["fn"] = lambda kind, mb: ex.wait_applied()
        out = {}
        def fwd(mb):
            return schedules.forward_step(lambda it, m: ("output", mb), None, None, 2, None, [],
                                          None, current_microbatch=mb)
        def bwd(mb):
            return schedules.backward_step(None, ("output", mb), None, None, None)
        def iteration():
            return [fwd(0), fwd(1), bwd(0), bwd(1)]

        # auto_step=False: every call is applied and the loop ends iterations itself.
        hook = MegatronHook(ex, auto_step=False, sync=None).install()
        out["wrapped_name"] = schedules.forward_step.__name__
        out["explicit"] = iteration()
        hook.step_end()
        with hook.step():                       # the block form
            out["block"] = iteration()
        with hook.paused():                     # evaluation: nothing applied
            out["paused"] = [fwd(0), fwd(1)]

        # An exception in backward_step propagates; the step() block rewinds the plan.
        schedules.FAIL_AT["at"] = ("backward", ("output", 1))
        try:
            with hook.step():
                iteration()
        except schedules.StandInFailure as e:
            out["failure"] = str(e)
        schedules.FAIL_AT["at"] = None

        # A backward first: refused before it runs, with a message naming the function.
        calls_before = len(schedules.CALLS)
        try:
            bwd(0)
        except ergon.ErgonError as e:
            out["mismatch"] = err(e)
        out["ran_after_mismatch"] = len(schedules.CALLS) - calls_before
        fwd(0)
        fwd(1)
        bwd(0)
        try:                                    # stopped one short of the plan
            hook.step_end()
        except ergon.ErgonError as e:
            out["incomplete"] = err(e)
        out["again"] = iteration()              # rewound: a full iteration works again
        hook.step_end()
        try:
            with hook.step():
                hook.step_end()
        except ergon.ErgonError as e:
            out["inside"] = err(e)
        out["iterations"] = hook.iterations
        hook.uninstall()
        out["restored"] = [schedules.forward_step is forward_step,
                           schedules.backward_step is backward_step]
        out["executor_open"] = not ex.closed    # uninstall keeps the executor
        hook.close()
        out["executor_closed"] = ex.closed
        try:
            hook.step_end()
        except ergon.ErgonError as e:
            out["after_close"] = err(e)
        emit(**out)
        """,
    )
    assert got["wrapped_name"] == "forward_step"
    outputs = [[["output", 0], 1], [["output", 1], 1], ["input-grad", ["output", 0]],
               ["input-grad", ["output", 1]]]
    assert got["explicit"] == outputs
    assert got["block"] == outputs
    assert got["paused"] == outputs[:2]
    assert got["failure"] == "backward of ('output', 1) failed"
    mismatch = got["mismatch"]
    assert mismatch["status"] == "INVALID_STATE"
    for part in ("Megatron hook", "backward_step", "instruction 0", "plan mismatch"):
        assert part in mismatch["message"], mismatch
    assert got["ran_after_mismatch"] == 0
    assert got["incomplete"]["status"] == "INVALID_STATE"
    assert "incomplete iteration" in got["incomplete"]["message"]
    assert got["again"] == outputs
    assert got["inside"]["status"] == "INVALID_STATE"
    assert "inside an open iteration" in got["inside"]["message"]
    assert got["iterations"] == 3  # explicit, block, again (failed iterations do not count)
    assert got["restored"] == [True, True]
    assert got["executor_open"] and got["executor_closed"]
    assert got["after_close"]["status"] == "INVALID_STATE"
    assert got["state"] == INITIAL_STATE.strip()
    assert got["log"][-len(SHUTDOWN):] == SHUTDOWN


# ----------------------------------------------------------------------------------------------
# Without any framework, and at interpreter exit


def test_hooks_import_nothing_heavy_and_check_their_arguments(
    fake_nvml: Path, tmp_path: Path
) -> None:
    got = scenario(
        tmp_path,
        fake_nvml,
        """
        import sys
        heavy = sorted(n for n in sys.modules
                       if n.split(".")[0] in ("deepspeed", "megatron", "torch"))
        out = {"heavy": heavy}
        try:
            DeepSpeedHook(object())
        except TypeError as e:
            out["bad_executor"] = str(e)
        # from_frontier: a hook with its own executor; the hook's options pass through.
        made = []
        for make in (lambda: DeepSpeedHook.from_frontier("0", frontier(), 1, at="fastest",
                                                         sync=None),
                     lambda: MegatronHook.from_frontier(0, frontier(), 0, auto_step=False,
                                                        sync=None)):
            hook = make()                     # one executor at a time on the GPU
            made.append([type(hook).__name__, type(hook.executor).__name__,
                         hook.executor.stage, hook._sync is None, hook._always])
            hook.close()
            made[-1].append(hook.executor.closed)
        out["made"] = made
        ex = gpu.PlanExecutor("0", frontier(), 0)
        try:
            MegatronHook(ex, sync="rocm")
        except ergon.ErgonError as e:
            out["bad_sync"] = err(e)
        hook = MegatronHook(ex)               # sync="cuda" without torch: no sync
        out["sync_resolved"] = hook._sync is None
        try:
            hook.install(object())
        except TypeError as e:
            out["not_schedules"] = str(e)
        sys.modules["megatron"] = None        # no Megatron (hidden where it is installed)
        try:
            hook.install()
        except ImportError as e:
            out["no_megatron"] = type(e).__name__
        out["installed"] = hook.installed
        # Not closed here: the hook closes itself, and restores the GPU, at interpreter exit.
        emit(**out)
        """,
        standins=False,
    )
    assert got["heavy"] == []
    assert "PlanExecutor" in got["bad_executor"]
    assert got["made"] == [
        ["DeepSpeedHook", "PlanExecutor", 1, True, False, True],
        ["MegatronHook", "PlanExecutor", 0, True, True, True],
    ]
    assert got["bad_sync"]["status"] == "INVALID_ARGUMENT"
    assert got["sync_resolved"]
    assert "forward_step" in got["not_schedules"]
    assert got["no_megatron"] in ("ModuleNotFoundError", "ImportError")
    assert not got["installed"]
    # At exit the executor was closed: the GPU is back as it was.
    assert got["log"][-len(SHUTDOWN):] == SHUTDOWN
    assert got["state"] == INITIAL_STATE.strip()


# ----------------------------------------------------------------------------------------------
# The real frameworks, where installed (CI's framework step, scripts/test-frameworks.sh): the
# hooks wrap what the real code dispatches to. A recording executor stands in for the GPU.


class RecordingExecutor:
    """Records the calls a hook makes (no GPU)."""

    def __init__(self) -> None:
        self.calls: List[str] = []
        self.closed = False

    def instruction_begin(self, kind: str) -> None:
        self.calls.append(kind)

    def step_end(self) -> None:
        self.calls.append("step_end")

    def close(self) -> None:
        self.closed = True


def test_real_deepspeed_pipeline_engine() -> None:
    import inspect

    require("deepspeed")  # fails instead under ERGON_EXPECT_FRAMEWORKS=1
    import deepspeed.runtime.pipe.engine as engine_module
    import deepspeed.runtime.pipe.schedule as schedule
    from ergon.hooks import DeepSpeedHook

    cls = engine_module.PipelineEngine
    for name in ("_exec_forward_pass", "_exec_backward_pass"):
        assert list(inspect.signature(getattr(cls, name)).parameters) == ["self", "buffer_id"]
    table = cls._INSTRUCTION_MAP
    assert table[schedule.ForwardPass] is cls._exec_forward_pass
    assert table[schedule.BackwardPass] is cls._exec_backward_pass
    assert "_INSTRUCTION_MAP" in inspect.getsource(cls._exec_schedule)

    # On the class (an engine needs torch.distributed): the table dispatches to wrappers that
    # call the executor, then the real function, which fails on a bare instance.
    rec = RecordingExecutor()
    hook = DeepSpeedHook(rec, sync=None).install(cls)
    try:
        assert cls._INSTRUCTION_MAP is not table
        wrapped = cls._INSTRUCTION_MAP[schedule.ForwardPass]
        assert wrapped.__wrapped__ is table[schedule.ForwardPass]
        with hook.step():
            with pytest.raises(Exception):
                wrapped(cls.__new__(cls), buffer_id=0)
        assert rec.calls == ["forward", "step_end"]
    finally:
        hook.close()
    assert cls._INSTRUCTION_MAP is table and rec.closed
    assert cls._exec_forward_pass is table[schedule.ForwardPass]


def test_real_megatron_schedules() -> None:
    require("megatron.core")  # fails instead under ERGON_EXPECT_FRAMEWORKS=1
    import megatron.core.pipeline_parallel.schedules as schedules
    from ergon.hooks import MegatronHook

    fn = schedules.forward_backward_pipelining_without_interleaving
    # The schedule looks forward_step/backward_step up in the module when it runs.
    names = set(fn.__code__.co_names)
    for inner in fn.__code__.co_consts:
        names |= set(getattr(inner, "co_names", ()))
    assert {"forward_step", "backward_step"} <= names
    forward_step = schedules.forward_step
    rec = RecordingExecutor()
    hook = MegatronHook(rec, sync=None).install()
    assert schedules.forward_step.__wrapped__ is forward_step
    hook.close()
    assert schedules.forward_step is forward_step and rec.closed


def test_hook_sources_import_lazily() -> None:
    # In a fresh interpreter (this one may have imported a framework): importing ergon.hooks
    # needs none of the frameworks.
    proc = run_python(
        """
        import sys
        import ergon.hooks
        print(sorted(n for n in sys.modules if n.split(".")[0] in ("deepspeed", "megatron",
                                                                   "torch")))
        """,
        {},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
