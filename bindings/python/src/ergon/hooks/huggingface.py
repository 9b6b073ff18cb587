"""Zeus's power-limit optimizer in a Hugging Face ``Trainer``.

:class:`PowerLimitCallback` is a ``transformers.TrainerCallback`` that forwards
``on_step_begin`` and ``on_epoch_end`` to an :class:`ergon.zeus.PowerLimitOptimizer`, as zeus's
``HFGlobalPowerLimitOptimizer`` does::

    from ergon.hooks.huggingface import PowerLimitCallback

    trainer = Trainer(model, args, train_dataset=ds,
                      callbacks=[PowerLimitCallback([local_rank], eta=0.5)])
    trainer.train()

The optimizer is closed (the GPUs' limits restored) at ``on_train_end``. Under
``torch.distributed`` the ranks agree on each window (see :mod:`ergon.zeus`). Importing this
module imports ``transformers``.
"""

from __future__ import annotations

from typing import Any, Optional

from transformers import TrainerCallback

from ..zeus import PowerLimitOptimizer

__all__ = ["PowerLimitCallback"]


class PowerLimitCallback(TrainerCallback):  # type: ignore[misc]
    """Drives a :class:`~ergon.zeus.PowerLimitOptimizer` from a ``Trainer``'s events."""

    def __init__(
        self, *args: Any, optimizer: Optional[PowerLimitOptimizer] = None, **kwargs: Any
    ) -> None:
        """Takes an ``optimizer`` (``optimizer=``), or makes one from the arguments of
        :class:`~ergon.zeus.PowerLimitOptimizer` (``devices``, ``eta``, ...)."""
        if optimizer is not None and (args or kwargs):
            raise TypeError("give either optimizer= or the optimizer's arguments, not both")
        self.optimizer = optimizer if optimizer is not None else PowerLimitOptimizer(*args, **kwargs)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Before every training step."""
        self.optimizer.on_step_begin()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """After every epoch."""
        self.optimizer.on_epoch_end()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """After training: the optimizer is closed and the GPUs' settings restored."""
        self.optimizer.close()
