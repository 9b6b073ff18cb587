"""ONLY FOR A MACHINE WITHOUT A GPU (CI, a laptop): the smallest in-process shim that lets
Megatron-Core 0.16.1's pipeline schedules run on CPU with gloo; on GPUs, do not use it.

Megatron-Core has no CPU path; on a machine without a GPU (torch's CUDA build, no driver)
exactly these calls fail, and exactly these are patched, only while a schedule runs
(:func:`cuda_on_cpu`, a context manager; everything is put back when it exits):

1. ``torch.zeros([], dtype=torch.int, device="cuda")`` in every ``forward_backward_*`` function
   of ``pipeline_parallel/schedules.py`` (the token count ``total_num_tokens``): factory calls
   that ask for ``device="cuda"`` (a ``str``, ``torch.device`` or index) get the CPU instead, via
   a ``torch.overrides.TorchFunctionMode`` (the mechanism of ``torch.device(...)`` as a context
   manager), which sees only torch functions and leaves every other device alone;
2. ``torch.cuda.current_device()`` in ``pipeline_parallel/p2p_communication.py`` (the device of
   every receive buffer and shape tensor): returns ``"cpu"``;
3. ``torch.cuda.synchronize()`` in ``p2p_communication.py`` (after ``batch_isend_irecv``, with
   ``batch_p2p_sync``): a no-op; on the CPU every gloo request is waited for (``req.wait()``)
   before the schedule reads the tensors, which is what the synchronization protects.

Nothing of the schedules' logic (the order of forward and backward passes, the microbatch and
model-chunk ids, the p2p pattern, loss scaling) is touched: the hooks see the real
``forward_step``/``backward_step`` calls. ``parallel_state.initialize_model_parallel`` needs no
patch on gloo (``torch.distributed.init_process_group("gloo")`` first).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode


def _is_cuda(device: Any) -> bool:
    if isinstance(device, str):
        return device.split(":")[0] == "cuda"
    if isinstance(device, torch.device):
        return device.type == "cuda"
    return isinstance(device, int) and not isinstance(device, bool)  # a CUDA ordinal


class _CudaToCpu(TorchFunctionMode):
    """Rewrites ``device=<cuda>`` of any torch function call to ``device="cpu"``."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = dict(kwargs or {})
        if _is_cuda(kwargs.get("device")):
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)


@contextlib.contextmanager
def cuda_on_cpu() -> Iterator[None]:
    """Patches 1-3 of the module documentation for the duration of the block."""
    saved = (torch.cuda.current_device, torch.cuda.synchronize)
    torch.cuda.current_device = lambda: "cpu"  # type: ignore[assignment]
    torch.cuda.synchronize = lambda device=None: None  # type: ignore[assignment]
    try:
        with _CudaToCpu():
            yield
    finally:
        torch.cuda.current_device, torch.cuda.synchronize = saved
