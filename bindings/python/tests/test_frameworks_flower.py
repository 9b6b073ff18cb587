"""ergon.hooks.flower: the Auxo strategy driven through the REAL flwr package.

No simulation engine: the test plays Flower's server loop itself with flwr's own objects
(``SimpleClientManager``, ``FitIns``/``FitRes``, ``Parameters`` serialised by
``ndarrays_to_parameters``). 200 clients in two latent groups train by moving the model they
are sent towards their group's optimum (±1 on the first coordinates, plus noise). The strategy
must send every sampled client its cohort's model, split the population (the child starting as
an exact copy of its parent), end with cohorts that are ≥ 90 % one group, and each group's
cohort model must have moved towards that group's optimum. Skipped without flwr (the Python
step of CI); run by ``scripts/test-frameworks.sh`` (flwr is pinned in
framework-requirements.txt) with ``ERGON_EXPECT_FRAMEWORKS=1``, which turns the skip into a
failure.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Dict, List, Tuple

import importlib.util
import os

import pytest

if importlib.util.find_spec("flwr") is None:
    if os.environ.get("ERGON_EXPECT_FRAMEWORKS") == "1":
        raise ImportError("ERGON_EXPECT_FRAMEWORKS=1 but flwr is not importable")
    pytest.skip(
        "flwr is not installed; scripts/test-frameworks.sh installs it "
        "(framework-requirements.txt)",
        allow_module_level=True,
    )

import numpy as np  # noqa: E402  (flwr brings numpy)

from flwr.common import (  # noqa: E402
    Code,
    FitRes,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_manager import SimpleClientManager  # noqa: E402
from flwr.server.client_proxy import ClientProxy  # noqa: E402

from ergon.hooks.flower import AuxoFedAvg  # noqa: E402

CLIENTS = 200
DIM = 8


class Proxy(ClientProxy):  # type: ignore[misc]
    """A client the test trains itself (Flower never calls these)."""

    def get_properties(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def get_parameters(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def fit(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def evaluate(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError

    def reconnect(self, *a: Any, **k: Any) -> Any:
        raise NotImplementedError


def optimum(group: int) -> Any:
    v = np.zeros(DIM, dtype=np.float32)
    v[:2] = 1.0 if group == 0 else -1.0
    return v


def train(sent: List[Any], group: int, rng: Any) -> List[Any]:
    """Half a step towards the group's optimum, with noise; the model is two arrays."""
    w = np.concatenate([a.ravel() for a in sent])
    new = w + 0.5 * (optimum(group) - w) + rng.normal(0.0, 0.05, DIM).astype(np.float32)
    return [new[:5].reshape(5), new[5:].reshape(3)]


def run(rounds: int, seed: int) -> Tuple[AuxoFedAvg, Dict[str, int], List[str]]:
    rng = np.random.default_rng(seed)
    random.seed(seed)  # SimpleClientManager samples with the random module
    manager = SimpleClientManager()
    cids = [f"client-{i}" for i in range(CLIENTS)]
    group = {cid: i % 2 for i, cid in enumerate(cids)}
    for cid in cids:
        manager.register(Proxy(cid))
    strategy = AuxoFedAvg(
        client_ids=cids,
        fraction_fit=0.25,
        min_fit_clients=10,
        min_available_clients=CLIENTS,
        initial_parameters=ndarrays_to_parameters(
            [np.zeros(5, dtype=np.float32), np.zeros(3, dtype=np.float32)]
        ),
        # The reference split test needs 100 / train_ratio members: 400 at fraction_fit 0.25,
        # more than this population has.
        train_ratio=1.0,
        seed=seed,
        accept_failures=False,
    )
    params = strategy.initialize_parameters(manager)
    assert params is not None
    for server_round in range(1, rounds + 1):
        ins = strategy.configure_fit(server_round, params, manager)
        assert len(ins) == CLIENTS // 4
        results = []
        for client, fit_ins in ins:
            m = fit_ins.config["auxo_cohort"]
            sent = parameters_to_ndarrays(fit_ins.parameters)
            # Every client is sent its cohort's current model.
            assert all(np.array_equal(a, b) for a, b in zip(sent, strategy.cohort_models[m]))
            new = train(sent, group[client.cid], rng)
            results.append(
                (
                    client,
                    FitRes(Status(Code.OK, ""), ndarrays_to_parameters(new), 10, {}),
                )
            )
        before = len(strategy.cohort_models)
        params, metrics = strategy.aggregate_fit(server_round, results, [])
        assert params is not None
        assert metrics["auxo_num_cohorts"] == len(strategy.cohort_models)
        assert strategy.clusterer.num_cohorts == len(strategy.cohort_models)
        for _r, _m, step in strategy.steps:
            if step.split is not None and _r == server_round:
                parent, child = step.split
                # A split's child starts as an exact copy of the parent (B10).
                assert all(
                    np.array_equal(a, b)
                    for a, b in zip(strategy.cohort_models[parent], strategy.cohort_models[child])
                )
        assert len(strategy.cohort_models) >= before
    return strategy, group, cids


def test_two_groups_get_their_own_cohort_models() -> None:
    strategy, group, cids = run(rounds=40, seed=1)
    assert strategy.clusterer.num_cohorts >= 2
    assert any(s.split for _, _, s in strategy.steps)
    best = {cid: strategy.clusterer.best_cohort(i) for i, cid in enumerate(cids)}
    counts = Counter((best[c], group[c]) for c in cids)
    top: Dict[int, int] = {}
    for (m, _g), n in counts.items():
        top[m] = max(top.get(m, 0), n)
    assert sum(top.values()) / CLIENTS >= 0.9, counts
    # Each group's most common cohort holds a model near that group's optimum.
    for g in (0, 1):
        m = Counter(best[c] for c in cids if group[c] == g).most_common(1)[0][0]
        w = np.concatenate([a.ravel() for a in strategy.cohort_models[m]])
        assert np.linalg.norm(w - optimum(g)) < 0.5, (g, w)

    # Evaluation: each client gets the model of its best cohort.
    manager = SimpleClientManager()
    for cid in cids:
        manager.register(Proxy(cid))
    strategy.fraction_evaluate = 0.1
    strategy.min_evaluate_clients = 5
    for client, ins in strategy.configure_evaluate(41, ndarrays_to_parameters([]), manager):
        m = strategy.clusterer.best_cohort(cids.index(client.cid))
        assert ins.config["auxo_cohort"] == m
        sent = parameters_to_ndarrays(ins.parameters)
        assert all(np.array_equal(a, b) for a, b in zip(sent, strategy.cohort_models[m]))


def test_same_seed_same_cohorts() -> None:
    a, _, _ = run(rounds=15, seed=4)
    b, _, _ = run(rounds=15, seed=4)
    assert a.clusterer.assignment() == b.clusterer.assignment()
    assert [(r, m, s) for r, m, s in a.steps] == [(r, m, s) for r, m, s in b.steps]


def test_unknown_cid_is_refused() -> None:
    strategy = AuxoFedAvg(client_ids=["a", "b"], fraction_fit=0.5)
    with pytest.raises(KeyError, match="'c' is not in client_ids"):
        strategy.cohort_of("c")
    with pytest.raises(ValueError, match="twice"):
        AuxoFedAvg(client_ids=["a", "a"])
