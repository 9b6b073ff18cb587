"""``ergon.zeus.BatchSizeOptimizer``: a recurring job's batch size across process restarts, its
state in a file (``zeus-bso-state/v1``) between them.

The oracle is the reference's pruning order (zeus ``PruningExploreManager``, reference notes
§2.3): each round walks the default and every smaller size descending, then the larger ones
ascending; the next round starts from the round's cheapest size. With sizes 8–64, default 32 and
costs 0.5·E + 0.5·300·T of 2100, 1500, 1800 and 2400 J (all within β = 2 × the best, all reaching
the target), round 1 runs 32, 16, 8, 64 and round 2, from 16, runs 16, 8, 32, 64. After that
Thompson sampling draws from the persisted random stream: a job restarted from the file every
few recurrences must choose exactly what one long-lived optimizer chooses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

from conftest import run_python

import ergon
from ergon import ErgonError, Status
from ergon.zeus import BatchSizeOptimizer

TIME_S = {8: 14.0, 16: 10.0, 32: 12.0, 64: 16.0}

RECURRENCES = """
import json, sys
from ergon.zeus import BatchSizeOptimizer
TIME_S = {8: 14.0, 16: 10.0, 32: 12.0, 64: 16.0}
chosen = []
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else N):
    bso = BatchSizeOptimizer(PATH, [8, 16, 32, 64], 32, eta=0.5, max_power_w=300.0)
    b = bso.next_batch_size()
    bso.report(b, time_s=TIME_S[b], energy_j=0.0, reached=True)
    chosen.append(b)
    bso.close()
print("RESULT " + json.dumps(chosen))
"""


def recurrences(path: Path, n: int) -> List[int]:
    proc = run_python(f"PATH = {str(path)!r}\nN = {n}\n" + RECURRENCES, {})
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][0]
    chosen: List[int] = json.loads(line[len("RESULT ") :])
    return chosen


def test_pruning_then_thompson_across_process_restarts(tmp_path: Path) -> None:
    restarted = tmp_path / "restarted.json"
    chosen: List[int] = []
    for _ in range(4):  # four processes, three recurrences each
        chosen += recurrences(restarted, 3)
    assert chosen[:8] == [32, 16, 8, 64, 16, 8, 32, 64]
    # One long-lived object (no file between its recurrences) makes the same choices.
    with BatchSizeOptimizer(tmp_path / "one.json", [8, 16, 32, 64], 32, eta=0.5,
                            max_power_w=300.0) as bso:
        continuous = []
        for _ in range(12):
            b = bso.next_batch_size()
            bso.report(b, time_s=TIME_S[b], energy_j=0.0, reached=True)
            continuous.append(b)
        assert bso.cost_limit == 2 * 1500.0
        assert bso.history[:2] == [(32, 1800.0), (16, 1500.0)]
    assert chosen == continuous
    # Only the state file is left: the temporary files of the atomic writes were renamed.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json", "restarted.json"]
    doc = json.loads(restarted.read_text())
    assert doc["schema"] == "zeus-bso-state/v1" and doc["max_power_w"] == 300.0


def test_bad_input_is_refused_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "bso.json"
    bso = BatchSizeOptimizer(path, [8, 16], 16, max_power_w=300.0)
    assert bso.next_batch_size() == 16
    # Pruning waits for 16: a report of 8 is out of turn.
    try:
        bso.report(8, time_s=1.0, energy_j=1.0)
        raise AssertionError("no error")
    except ErgonError as e:
        assert e.status == Status.INVALID_STATE and "expected a result for batch size" in e.message
    try:
        bso.report(16, time_s=-1.0, energy_j=1.0)
        raise AssertionError("no error")
    except ErgonError as e:
        assert e.status == Status.INVALID_ARGUMENT and "time_s = -1" in e.message
    bso.report(16, cost=100.0, reached=True)
    assert bso.history == [(16, 100.0)]
    bso.close()
    for kwargs, part in (
        ({"eta": 1.5}, "eta"),
        ({"max_power_w": 0.0}, "max_power_w"),
        ({"beta": 0.5}, "beta"),
    ):
        try:
            BatchSizeOptimizer(tmp_path / "new.json", [8, 16], 16, **{"max_power_w": 300.0,
                                                                     **kwargs})
            raise AssertionError(f"{kwargs} accepted")
        except ErgonError as e:
            assert e.status == Status.INVALID_ARGUMENT and part in e.message, e.message
    try:
        BatchSizeOptimizer(tmp_path / "new.json", [8, 16], 32, max_power_w=300.0)
        raise AssertionError("a default outside the list accepted")
    except ErgonError as e:
        assert "default batch size 32" in e.message
    # The state file of another job.
    try:
        BatchSizeOptimizer(path, [8, 16, 32], 16, max_power_w=300.0)
        raise AssertionError("another job's state accepted")
    except ErgonError as e:
        assert e.status == Status.INVALID_ARGUMENT
        assert "its batch_sizes is [8, 16], this job's [8, 16, 32]" in e.message
    # Not a state file at all, or another format.
    path.write_text("{not json")
    try:
        BatchSizeOptimizer(path, [8, 16], 16, max_power_w=300.0)
        raise AssertionError("garbage accepted")
    except ErgonError as e:
        assert e.status == Status.PARSE
    path.write_text('{"schema": "zeus-power-profile/v1"}')
    try:
        BatchSizeOptimizer(path, [8, 16], 16, max_power_w=300.0)
        raise AssertionError("another format accepted")
    except ErgonError as e:
        assert e.status == Status.SCHEMA and "zeus-bso-state/v1" in e.message
    assert ergon.live_handles()["zeus_batch_size_optimizer"] == 0
