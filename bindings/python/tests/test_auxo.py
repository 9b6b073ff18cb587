"""ergon.auxo: the cohort clusterer from Python.

The population is the reference playground's (notes ``oobleck-auxo.md`` B8/B10): clients at
Gaussian-blob positions, the positions used as the updates, 50 random participants per round,
the clustering step run for each cohort's participants. Oracles: B10's statistical ones (two
well-separated blobs split within the first ~20 rounds with purity ≥ 0.9; fixed split rounds
[r1, r2] on 4 blobs give 4 cohorts), and ``ergon auxo simulate --positions --split-rounds``,
whose split rounds and final count the Python driver must reproduce (the blob positions
themselves come from the CLI's own generator, which the ABI does not expose, so ARI and purity
are not compared value for value). Bad input raises with the library's message and changes
nothing.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import pytest
from conftest import fails

import ergon
from ergon import Status
from ergon.auxo import Clusterer

CLIENTS = 1000
PER_ROUND = 50


def blob_positions(
    centers: Sequence[Tuple[float, float]], std: float, rng: random.Random
) -> Tuple[List[List[float]], List[int]]:
    """Client ``i`` belongs to blob ``i mod len(centers)`` (as in the playground)."""
    pos, groups = [], []
    for i in range(CLIENTS):
        g = i % len(centers)
        cx, cy = centers[g]
        pos.append([cx + rng.gauss(0.0, std), cy + rng.gauss(0.0, std)])
        groups.append(g)
    return pos, groups


def playground(
    c: Clusterer, pos: List[List[float]], rounds: int, rng: random.Random
) -> List[Tuple[int, int]]:
    """The playground loop: K participants a round, a step per cohort present among them;
    returns ``(round, cohorts after)`` of every split."""
    splits = []
    for r in range(rounds):
        part = rng.sample(range(CLIENTS), PER_ROUND)
        for m in range(c.num_cohorts):
            ids = [p for p in part if c.cohort_of(p) == m]
            if len(ids) < 5:
                continue
            out = c.step(m, ids, [pos[p] for p in ids])
            if out.split is not None:
                assert out.split == (m, out.num_cohorts - 1)
                splits.append((r, out.num_cohorts))
    return splits


def majority_purity(assignment: List[int], groups: List[int]) -> float:
    by_cohort = Counter(zip(assignment, groups))
    best = {}
    for (m, _g), n in by_cohort.items():
        best[m] = max(best.get(m, 0), n)
    return sum(best.values()) / len(groups)


def two_blobs(seed: int, rounds: int, **options: Any) -> Tuple[Clusterer, List[int], Any]:
    rng = random.Random(seed)
    pos, groups = blob_positions([(-8.0, 0.0), (8.0, 0.0)], 2.0, rng)
    c = Clusterer(CLIENTS, 0.9, seed=seed, signal="raw", known_clients=150, **options)
    splits = playground(c, pos, rounds, rng)
    return c, groups, splits


@pytest.mark.parametrize("seed", [1, 3])
def test_two_separated_blobs_split_early_and_purely(seed: int) -> None:
    c, groups, splits = two_blobs(seed, 60)
    with c:
        assert splits and splits[0][0] <= 20, splits  # B10: first split within ~20 rounds
        assert c.num_cohorts >= 2
        assignment = c.assignment()
        assert len(assignment) == CLIENTS
        assert all(0 <= m < c.num_cohorts for m in assignment)
        assert sum(c.members(m) for m in range(c.num_cohorts)) == CLIENTS
        assert majority_purity(assignment, groups) >= 0.9  # B10: purity ≥ 0.9
        served = [c.best_cohort(i) for i in range(CLIENTS)]
        assert all(0 <= m < c.num_cohorts for m in served)


def test_same_seed_same_cohorts_other_seed_differs() -> None:
    a, _, sa = two_blobs(5, 40)
    b, _, sb = two_blobs(5, 40)
    with a, b:
        assert sa == sb
        assert a.assignment() == b.assignment()
    # The same population and participants, another engine seed: the random first mapping
    # differs.
    rng = random.Random(5)
    pos, _ = blob_positions([(-8.0, 0.0), (8.0, 0.0)], 2.0, rng)
    with Clusterer(CLIENTS, 0.9, seed=6, signal="raw", known_clients=150) as c, Clusterer(
        CLIENTS, 0.9, seed=5, signal="raw", known_clients=150
    ) as d:
        playground(c, pos, 40, random.Random(7))
        playground(d, pos, 40, random.Random(7))
        assert c.assignment() != d.assignment()


def test_fixed_split_rounds_match_the_command(cli: Path) -> None:
    out = subprocess.run(
        [
            str(cli), "auxo", "simulate", "--positions", "--centers", "4", "--clients",
            str(CLIENTS), "--per-round", str(PER_ROUND), "--rounds", "60", "--cluster-std", "2",
            "--train-ratio", "0.9", "--known-clients", "150", "--split-rounds", "20,40",
            "--seed", "2", "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = json.loads(out)
    rng = random.Random(2)
    pos, _ = blob_positions([(-8.0, -8.0), (8.0, -8.0), (-8.0, 8.0), (8.0, 8.0)], 2.0, rng)
    with Clusterer(
        CLIENTS, 0.9, seed=2, signal="raw", known_clients=150, split_test="fixed",
        split_rounds=[20, 40],
    ) as c:
        splits = playground(c, pos, 60, rng)
        # Every cohort runs every round here (50 participants, ≤ 4 cohorts), so the splits
        # fall on the same rounds whatever the positions: B10's 4 cohorts from [r1, r2].
        assert [(s["round"], s["num_cohorts_after"]) for s in doc["splits"]] == splits
        assert doc["final_cohorts"] == c.num_cohorts == 4


def test_numpy_rows_equal_list_rows() -> None:
    np = pytest.importorskip("numpy")
    rng = random.Random(11)
    pos, _ = blob_positions([(-8.0, 0.0), (8.0, 0.0)], 2.0, rng)
    with Clusterer(CLIENTS, 0.9, seed=1) as a, Clusterer(CLIENTS, 0.9, seed=1) as b:
        for r in range(30):
            part = random.Random(r).sample(range(CLIENTS), PER_ROUND)
            for m in range(a.num_cohorts):
                ids = [i for i in part if a.cohort_of(i) == m]
                assert ids == [i for i in part if b.cohort_of(i) == m]
                if not ids:
                    continue
                ra = a.step(m, ids, [pos[i] for i in ids])
                rb = b.step(m, np.array(ids, dtype=np.int64), np.array([pos[i] for i in ids]))
                assert ra == rb
        assert a.assignment() == b.assignment()
        with fails(Status.INVALID_ARGUMENT, "2-D"):
            a.step(0, [0, 1], np.zeros(4))


def test_bad_input_is_refused_and_changes_nothing() -> None:
    with Clusterer(10, 0.5, seed=3) as c:
        before = c.assignment()
        rows = [[float(i), 1.0] for i in range(6)]
        with fails(Status.INVALID_ARGUMENT, "at least one participant"):
            c.step(0, [], [])
        with fails(Status.INVALID_ARGUMENT, "ragged", "row 2"):
            c.step(0, [0, 1, 2], [[1.0, 2.0], [1.0, 2.0], [1.0]])
        with fails(Status.INVALID_ARGUMENT, "2 rows for 3 participants"):
            c.step(0, [0, 1, 2], [[1.0], [2.0]])
        bad = [row[:] for row in rows]
        bad[4][1] = math.nan
        with fails(Status.INVALID_ARGUMENT, "client 4", "value 1", "NaN"):
            c.step(0, list(range(6)), bad)
        bad[4][1] = math.inf
        with fails(Status.INVALID_ARGUMENT, "client 4", "inf"):
            c.step(0, list(range(6)), bad)
        with fails(Status.OUT_OF_RANGE, "unknown client id 10", "0..10"):
            c.step(0, [0, 1, 2, 3, 4, 10], rows)
        with fails(Status.OUT_OF_RANGE, "unknown client id 99"):
            c.cohort_of(99)
        with fails(Status.OUT_OF_RANGE, "unknown cohort 1"):
            c.step(1, list(range(6)), rows)
        with fails(Status.INVALID_ARGUMENT, "twice"):
            c.step(0, [0, 1, 2, 3, 4, 4], rows)
        with fails(Status.INVALID_ARGUMENT, "dimension 0"):
            c.step(0, [0, 1], [[], []])
        with pytest.raises(TypeError):
            c.step(0, [0, 1], ["ab", "cd"])
        assert c.assignment() == before
        assert c.num_cohorts == 1
        # Too few reporters: accepted, nothing runs.
        out = c.step(0, [0, 1], [[1.0], [2.0]])
        assert not out.ran and out.split is None and out.num_cohorts == 1
    assert c.closed
    with fails(Status.INVALID_STATE):
        c.num_cohorts


@pytest.mark.parametrize(
    ("options", "parts"),
    [
        ({"clients": 0}, ("options.clients",)),
        ({"train_ratio": 0.0}, ("train_ratio",)),
        ({"train_ratio": math.nan}, ("train_ratio",)),
        ({"split_test": "magic"}, ("split_test", "'improved'")),
        ({"split_test": "fixed"}, ("split_rounds",)),
        ({"signal": "cosine"}, ("signal",)),
        ({"min_reporters": 1}, ("min_reporters",)),
        ({"epsilon": 2.0}, ("epsilon",)),
        ({"split_test": "improved", "alpha": 1.5}, ("split_rule.alpha",)),
        ({"known_clients": math.nan}, ("known_clients",)),
    ],
)
def test_bad_options_name_the_field(options: Any, parts: Tuple[str, ...]) -> None:
    kwargs = {"clients": 100, "train_ratio": 0.5, **options}
    with fails(Status.INVALID_ARGUMENT, *parts):
        Clusterer(**kwargs)


def test_exported_and_no_handle_leaks() -> None:
    assert ergon.auxo.Clusterer is Clusterer
    before = ergon.live_handles()["auxo_clusterer"]
    c = Clusterer(20)
    assert ergon.live_handles()["auxo_clusterer"] == before + 1
    c.close()
    assert ergon.live_handles()["auxo_clusterer"] == before
