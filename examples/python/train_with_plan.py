"""A plain training loop that runs each iteration at the GPU clocks of a Perseus plan.

Perseus plans, per pipeline stage, the order of the forward and backward computations of one
training iteration and the GPU clock of each (``ergon.Frontier.plan()``: at T*, the least energy
for the iteration time, or ``deadline_s=`` when a straggler sets the pace). The loop below is the
one any trainer has (microbatches, gradient accumulation, an optimizer step per iteration); the
only additions are ``executor.instruction_begin(kind)`` before each computation and
``executor.step_end()`` after each iteration.

    pip install ./bindings/python          # or './bindings/python[torch]' for the torch model
    python examples/python/train_with_plan.py ../shared/data/perseus/a100_s4_m8.instance.json
    python examples/python/train_with_plan.py INSTANCE --gpu 0   # on a real GPU (CAP_SYS_ADMIN)

Without ``--gpu`` the clocks are only recorded and printed (:class:`DryRunExecutor`), so the
example runs anywhere. The model is a ``torch.nn.Linear`` when torch is installed, else the same
linear regression in plain Python (``--model python`` forces it). CI runs both: the plain-Python
model in its Python step, the torch model in its framework step (scripts/test-frameworks.sh).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import deque
from typing import Any, Deque, List, Optional, Sequence, Tuple

import ergon
from ergon import gpu

FEATURES = 8
"""Inputs of the toy regression model."""


class DryRunExecutor:
    """Stands in for :class:`ergon.gpu.PlanExecutor` without a GPU: checks each computation
    against the stage's planned program, as the executor does, and records the planned clock
    instead of setting it."""

    def __init__(self, program: Sequence[Tuple[str, int]]) -> None:
        self.program = list(program)
        self.applied: List[Tuple[str, int]] = []
        self._next = 0

    def instruction_begin(self, kind: str) -> None:
        planned_kind, clock_mhz = self.program[self._next]
        if kind != planned_kind:
            raise ergon.ErgonError(
                ergon.Status.INVALID_STATE,
                f"instruction {self._next} is planned as {planned_kind}, not {kind}",
            )
        self.applied.append((kind, clock_mhz))
        self._next += 1

    def step_end(self) -> None:
        if self._next != len(self.program):
            raise ergon.ErgonError(
                ergon.Status.INVALID_STATE,
                f"iteration ended after {self._next} of {len(self.program)} instructions",
            )
        self._next = 0

    def close(self) -> None:
        pass


class PythonModel:
    """``y = w·x + b`` with squared loss, in plain Python: the torch model's stand-in."""

    def __init__(self) -> None:
        self.w = [0.0] * FEATURES
        self.b = 0.0
        self.grad_w = [0.0] * FEATURES
        self.grad_b = 0.0

    def forward(self, batch: List[Tuple[List[float], float]]) -> Any:
        """Returns what backward needs: the batch and its residuals (the loss is their mean
        square)."""
        residuals = [sum(wi * xi for wi, xi in zip(self.w, x)) + self.b - y for x, y in batch]
        return batch, residuals

    def loss(self, saved: Any) -> float:
        _, residuals = saved
        return sum(r * r for r in residuals) / len(residuals)

    def backward(self, saved: Any) -> None:
        batch, residuals = saved
        scale = 2.0 / len(batch)
        for (x, _), r in zip(batch, residuals):
            for i, xi in enumerate(x):
                self.grad_w[i] += scale * r * xi
            self.grad_b += scale * r

    def step(self, lr: float, microbatches: int) -> None:
        self.w = [wi - lr * g / microbatches for wi, g in zip(self.w, self.grad_w)]
        self.b -= lr * self.grad_b / microbatches
        self.grad_w = [0.0] * FEATURES
        self.grad_b = 0.0


class TorchModel:
    """The same regression as a ``torch.nn.Linear`` with SGD."""

    def __init__(self, lr: float) -> None:
        import torch  # noqa: PLC0415  (optional)

        self.torch = torch
        self.net = torch.nn.Linear(FEATURES, 1)
        torch.nn.init.zeros_(self.net.weight)
        torch.nn.init.zeros_(self.net.bias)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=lr)

    def forward(self, batch: List[Tuple[List[float], float]]) -> Any:
        x = self.torch.tensor([x for x, _ in batch])
        y = self.torch.tensor([[y] for _, y in batch])
        return self.torch.nn.functional.mse_loss(self.net(x), y)

    def loss(self, saved: Any) -> float:
        return float(saved.item())

    def backward(self, saved: Any) -> None:
        saved.backward()

    def step(self, lr: float, microbatches: int) -> None:
        for p in self.net.parameters():
            if p.grad is not None:
                p.grad /= microbatches
        self.opt.step()
        self.opt.zero_grad()


def make_model(kind: str, lr: float) -> Any:
    if kind == "python":
        return PythonModel()
    try:
        return TorchModel(lr)
    except ImportError as e:
        if kind == "torch":
            raise SystemExit(
                f"--model torch needs torch ({e}): pip install './bindings/python[torch]'"
            ) from None
        print("torch is not installed: the plain-Python model trains instead")
        return PythonModel()


def train(
    instance: str,
    *,
    stage: int = 0,
    steps: int = 5,
    device: Optional[str] = None,
    deadline_s: Optional[float] = None,
    model_kind: str = "auto",
    lr: float = 0.1,
    seed: int = 0,
) -> Tuple[List[float], Any]:
    """Trains ``steps`` iterations of stage ``stage``'s program; returns each iteration's mean
    loss and the executor (a :class:`DryRunExecutor` when ``device`` is None)."""
    rng = random.Random(seed)
    true_w = [rng.uniform(-1, 1) for _ in range(FEATURES)]

    def sample(n: int) -> List[Tuple[List[float], float]]:
        xs = [[rng.gauss(0, 1) for _ in range(FEATURES)] for _ in range(n)]
        return [(x, sum(w * xi for w, xi in zip(true_w, x)) + 0.5) for x in xs]

    with ergon.Frontier.from_instance(instance) as frontier:
        plan = frontier.plan(deadline_s=deadline_s) if deadline_s else frontier.plan()
        program = plan.stages[stage]
        microbatches = sum(1 for kind, _ in program if kind == "forward")
        print(
            f"plan: {plan.time_s:.3f} s, {plan.energy_j:.1f} J per iteration; stage {stage}: "
            f"{microbatches} microbatches, clocks {sorted({mhz for _, mhz in program})} MHz"
        )
        executor: Any = (
            gpu.PlanExecutor(device, frontier, stage=stage, deadline_s=deadline_s)
            if device is not None
            else DryRunExecutor(program)
        )
    model = make_model(model_kind, lr)
    losses: List[float] = []
    try:
        for step in range(steps):
            # A microbatch's backward runs after its forward; the plan gives the interleaving
            # (1F1B, GPipe...), so the activations wait in a queue in between.
            pending: Deque[Any] = deque()
            step_losses: List[float] = []
            for kind, _ in program:
                executor.instruction_begin(kind)  # sets this computation's planned clock
                if kind == "forward":
                    saved = model.forward(sample(16))
                    step_losses.append(model.loss(saved))
                    pending.append(saved)
                else:
                    model.backward(pending.popleft())
            executor.step_end()
            model.step(lr, microbatches)
            losses.append(sum(step_losses) / len(step_losses))
            print(f"iteration {step}: loss {losses[-1]:.4f}")
    finally:
        executor.close()  # a real executor restores the GPU's clocks here
    return losses, executor


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("instance", help="a perseus-instance/v1 file (ergon perseus --help)")
    ap.add_argument("--stage", type=int, default=0, help="the pipeline stage to run")
    ap.add_argument("--steps", type=int, default=5, help="training iterations")
    ap.add_argument("--gpu", help="NVML index or UUID: set the clocks (else a dry run)")
    ap.add_argument("--deadline-s", type=float, help="plan for this iteration time")
    ap.add_argument("--model", choices=("auto", "torch", "python"), default="auto")
    args = ap.parse_args(argv)
    losses, executor = train(
        args.instance,
        stage=args.stage,
        steps=args.steps,
        device=args.gpu,
        deadline_s=args.deadline_s,
        model_kind=args.model,
    )
    if isinstance(executor, DryRunExecutor):
        shown = ", ".join(f"{kind[0].upper()}@{mhz}" for kind, mhz in executor.applied[:6])
        print(f"dry run: {len(executor.applied)} computations at planned clocks ({shown}, ...)")
    return 0 if losses[-1] < losses[0] else 1


if __name__ == "__main__":
    sys.exit(main())
