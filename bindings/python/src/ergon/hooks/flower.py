"""Auxo cohorts in a Flower server: :class:`AuxoFedAvg`, a ``flwr`` FedAvg strategy that keeps
one model per cohort.

Imported on its own (it imports ``flwr`` and numpy, which the rest of the package never
needs)::

    from ergon.hooks.flower import AuxoFedAvg

    strategy = AuxoFedAvg(client_ids=[str(i) for i in range(1000)], fraction_fit=0.05,
                          initial_parameters=ndarrays_to_parameters(init), seed=1)
    fl.server.start_server(..., strategy=strategy)

Each round, :meth:`AuxoFedAvg.configure_fit` samples clients as FedAvg does and sends each one
the model of the cohort :meth:`ergon.auxo.Clusterer.cohort_of` maps it to (the fit config
carries ``"auxo_cohort"``). :meth:`AuxoFedAvg.aggregate_fit` groups the results by the cohort
each client trained, averages each group into its cohort's model (weighted by examples, as
FedAvg), and runs the clustering step of that cohort on the clients' update vectors: the
flattened difference between the model a client returned and the one it was sent, or the part
``update_slice`` selects (the reference clusters the last layer; ``slice(-k, None)``). When a
cohort splits, the new cohort starts as a copy of its parent's averaged model.
:meth:`configure_evaluate` sends each client the model of its best cohort (no exploration).
What the server itself keeps as "the" parameters is cohort 0's model.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from flwr.common import (
    EvaluateIns,
    FitIns,
    FitRes,
    NDArrays,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.strategy.aggregate import aggregate

from ..auxo import Clusterer, StepResult

__all__ = ["AuxoFedAvg"]


def _flat(arrays: NDArrays) -> Any:
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


class AuxoFedAvg(FedAvg):  # type: ignore[misc]
    """FedAvg with one model per Auxo cohort.

    ``client_ids`` is the population: the ``cid`` of every Flower client that may take part
    (its position is its Auxo client id). ``update_slice`` selects the part of the flattened
    update that is clustered (``None``: all of it). ``train_ratio`` defaults to
    ``fraction_fit``; the reference split test only splits cohorts of at least
    ``100 / train_ratio`` clients, so a small population needs a larger ratio. ``seed``, ``split_test`` and the other keyword arguments of
    :class:`ergon.auxo.Clusterer` go in ``clusterer_options``; the rest go to ``FedAvg``.
    """

    def __init__(
        self,
        *,
        client_ids: Sequence[str],
        update_slice: Optional[slice] = None,
        train_ratio: Optional[float] = None,
        seed: int = 0,
        split_test: str = "reference",
        clusterer_options: Optional[Dict[str, Any]] = None,
        **fedavg: Any,
    ) -> None:
        super().__init__(**fedavg)
        self.client_ids = [str(c) for c in client_ids]
        self._index = {cid: i for i, cid in enumerate(self.client_ids)}
        if len(self._index) != len(self.client_ids):
            raise ValueError("client_ids: a cid is listed twice")
        ratio = self.fraction_fit if train_ratio is None else train_ratio
        self.clusterer = Clusterer(
            len(self.client_ids),
            min(1.0, max(ratio, 1e-9)),
            seed=seed,
            split_test=split_test,
            **(clusterer_options or {}),
        )
        self.update_slice = update_slice
        self.cohort_models: List[NDArrays] = []
        """The model of every cohort (index = cohort id)."""
        self.steps: List[Tuple[int, int, StepResult]] = []
        """``(server round, cohort, result)`` of every clustering step, in order."""
        self._sent: Dict[str, int] = {}

    def __repr__(self) -> str:
        return f"AuxoFedAvg(cohorts={len(self.cohort_models)}, clients={len(self.client_ids)})"

    def _client(self, cid: str) -> int:
        try:
            return self._index[cid]
        except KeyError:
            raise KeyError(f"client cid {cid!r} is not in client_ids") from None

    def _adopt(self, parameters: Parameters) -> None:
        if not self.cohort_models:
            self.cohort_models = [parameters_to_ndarrays(parameters)]

    def cohort_of(self, cid: str) -> int:
        """The cohort the client with ``cid`` trains in next."""
        return self.clusterer.cohort_of(self._client(cid))

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> List[Tuple[ClientProxy, FitIns]]:
        """FedAvg's sample, each client sent its cohort's model."""
        self._adopt(parameters)
        sampled = super().configure_fit(server_round, parameters, client_manager)
        encoded: Dict[int, Parameters] = {}
        out = []
        self._sent = {}
        for client, ins in sampled:
            m = self.cohort_of(client.cid)
            if m not in encoded:
                encoded[m] = ndarrays_to_parameters(self.cohort_models[m])
            self._sent[client.cid] = m
            out.append((client, FitIns(encoded[m], {**ins.config, "auxo_cohort": m})))
        return out

    def aggregate_fit(
        self,
        server_round: int,
        results: List[Tuple[ClientProxy, FitRes]],
        failures: List[Any],
    ) -> Tuple[Optional[Parameters], Dict[str, Scalar]]:
        """Per cohort: FedAvg of its clients' models, then the clustering step on their
        updates (a split copies the averaged parent to the child)."""
        if not results or (failures and not self.accept_failures):
            return None, {}
        by_cohort: Dict[int, List[Tuple[ClientProxy, FitRes]]] = {}
        for client, res in results:
            m = self._sent.get(client.cid)
            if m is None:
                m = self.cohort_of(client.cid)
            by_cohort.setdefault(m, []).append((client, res))
        shift: List[int] = []  # cohorts dropped by merges this round, in order
        for sent in sorted(by_cohort):
            m = sent
            for dropped in shift:
                if m == dropped:
                    m = -1
                    break
                if m > dropped:
                    m -= 1
            if m < 0:
                continue  # its cohort was merged away during this round
            group = by_cohort[sent]
            sent_flat = _flat(self.cohort_models[m])
            returned = [parameters_to_ndarrays(res.parameters) for _, res in group]
            self.cohort_models[m] = aggregate(
                [(arrays, res.num_examples) for arrays, (_, res) in zip(returned, group)]
            )
            rows = np.stack([_flat(a) - sent_flat for a in returned])
            if self.update_slice is not None:
                rows = rows[:, self.update_slice]
            ids = [self._client(c.cid) for c, _ in group]
            r = self.clusterer.step(m, ids, rows.astype(np.float32))
            self.steps.append((server_round, m, r))
            if r.split is not None:
                parent, _child = r.split
                self.cohort_models.append([a.copy() for a in self.cohort_models[parent]])
            if r.merged is not None:
                del self.cohort_models[r.merged]
                shift.append(r.merged)
        return ndarrays_to_parameters(self.cohort_models[0]), {
            "auxo_num_cohorts": len(self.cohort_models)
        }

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> List[Tuple[ClientProxy, EvaluateIns]]:
        """FedAvg's sample, each client sent the model of its best cohort."""
        self._adopt(parameters)
        out = []
        for client, ins in super().configure_evaluate(server_round, parameters, client_manager):
            m = self.clusterer.best_cohort(self._client(client.cid))
            out.append(
                (
                    client,
                    EvaluateIns(
                        ndarrays_to_parameters(self.cohort_models[m]),
                        {**ins.config, "auxo_cohort": m},
                    ),
                )
            )
        return out
