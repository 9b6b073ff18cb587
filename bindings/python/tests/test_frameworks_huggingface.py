"""``ergon.hooks.huggingface.PowerLimitCallback`` in the REAL Hugging Face ``Trainer``
(``transformers``, on CPU), driving ``ergon.zeus.PowerLimitOptimizer`` on the fake NVML.

Two epochs of 8 steps of a tiny model (20 ms each); the optimizer profiles 400, 250 and 100 W
(1 warm-up and 2 measured steps each, no wait). Step 1 sets 400 W, steps 4 and 7 move on to 250
and 100 W, so the epoch ends during 100 W's window: the window is cancelled, the maximum set,
and 100 W profiled again from scratch at the first step of epoch 2 (zeus's rule), then chosen
(the energy selector: 100 W draws 100 W, the others 250 W). ``on_train_end`` restores 300 W.

Skipped without transformers (the Python step of CI), run by ``scripts/test-frameworks.sh``
with ``ERGON_EXPECT_FRAMEWORKS=1``, which turns the skip into a failure.
"""

from __future__ import annotations

from pathlib import Path

from conftest import run_child
from frameworks.harness import require

INITIAL = "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0"

JOB = """
import os
import torch
from torch import nn
from transformers import Trainer, TrainingArguments
from ergon.hooks.huggingface import PowerLimitCallback

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(4, 1)
    def forward(self, x, labels=None):
        time.sleep(0.02)
        out = self.w(x).squeeze(-1)
        return {"loss": ((out - labels) ** 2).mean(), "logits": out}

torch.manual_seed(0)
data = [{"x": torch.randn(4), "labels": torch.tensor(0.5)} for _ in range(8)]
args = TrainingArguments(output_dir=OUT, num_train_epochs=2, per_device_train_batch_size=1,
                         use_cpu=True, report_to=[], save_strategy="no", logging_strategy="no",
                         disable_tqdm=True, dataloader_num_workers=0)
seen = []
cb = PowerLimitCallback(0, selector="energy", wait_steps=0, warmup_steps=1, profile_steps=2,
                        pl_step_w=150, sync=None, aggregate=None)
orig_end = cb.on_epoch_end
def on_epoch_end(*a, **kw):
    orig_end(*a, **kw)
    seen.append(cb.optimizer.state._asdict())
cb.on_epoch_end = on_epoch_end
trainer = Trainer(model=Tiny(), args=args, train_dataset=data, callbacks=[cb])
trainer.train()
emit(epochs=seen, steps=trainer.state.global_step, closed=cb.optimizer.closed)
"""


def test_trainer_callback_profiles_reprofiles_and_restores(
    fake_nvml: Path, tmp_path: Path
) -> None:
    require("transformers")
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    (tmp_path / "fake-state").write_text(INITIAL + "\n")
    env = {
        "FAKE_NVML_POWER_W": "250",
        "FAKE_NVML_STATE": str(tmp_path / "fake-state"),
        "FAKE_NVML_LOG": str(tmp_path / "fake-log"),
        "ERGON_STATE_DIR": str(state_dir),
    }
    got = run_child(f"OUT = {str(tmp_path / 'out')!r}\n" + JOB, env, fake_nvml)
    assert got["steps"] == 16
    first, second = got["epochs"]
    # Epoch 1 ended inside 100 W's profiling: back to Ready for 100 W, 2 limits measured.
    assert first["phase"] == "ready" and first["limit_w"] == 100.0 and first["profiled"] == 2
    assert second["phase"] == "done" and second["optimal_limit_w"] == 100.0
    assert second["profiled"] == 3
    assert got["closed"]
    sets = [
        int(line.split("limit_mw=")[1].split()[0]) // 1000
        for line in (tmp_path / "fake-log").read_text().splitlines()
        if line.startswith("nvmlDeviceSetPowerManagementLimit")
    ]
    # 400, 250, 100; the epoch end's maximum; 100 again; the restore at on_train_end.
    assert sets == [400, 250, 100, 400, 100, 300]
    assert (tmp_path / "fake-state").read_text().splitlines()[0] == INITIAL
