"""ergon.oobleck against the oracle of the notes (A12.1, profile C: the reference planner's
values), and its errors."""

from __future__ import annotations

import pytest

import ergon
from ergon import oobleck


def oracle_c():
    layers = []
    for i in range(24):
        f = 0.5 if i == 0 else 3.0 if i == 23 else 2.0 + 0.1 * ((7 * i) % 5)
        layers.append({"forward": f, "backward": 2 * f, "mem_required": 300 if i in (0, 23) else 100})
    return layers


def test_templates_plan_and_failure_match_the_oracle():
    with oobleck.Templates.from_layers(oracle_c(), max_nodes=12, node_memory_bytes=1500) as t:
        assert t.n0 == 2
        t3 = t.get(3)
        assert [s["layers"] for s in t3["stages"]] == [[0, 9], [9, 17], [17, 24]]
        assert t3["objective"] == pytest.approx(749.4)
        assert t.get(2)["objective"] == pytest.approx(719.1)
        with t.plan(fault_tolerance=2, microbatches=128) as plan:
            assert plan.iteration_time_ms == pytest.approx(1841.4)
            assert [(p["num_nodes"], p["microbatches"]) for p in plan.pipelines] == [(3, 32)] * 4
            with plan.reconfigure([4]) as after:
                got = [(p["num_nodes"], p["microbatches"]) for p in after.pipelines]
                assert got == [(2, 23), (3, 35), (3, 35), (3, 35)]
                assert after.iteration_time_ms == pytest.approx(2005.2)
                assert all(x["from"] != 4 for x in after.transfers)


def test_errors():
    with pytest.raises(ergon.ErgonError) as e:
        oobleck.Templates.from_layers([], max_nodes=4)
    assert "no layers" in str(e.value)
    with pytest.raises(ergon.ErgonError) as e:
        oobleck.Templates.from_layers(oracle_c(), max_nodes=4, node_memory_bytes=200)
    assert "layer 0 needs 300 bytes" in str(e.value)
    with pytest.raises(ergon.ErgonError) as e:
        oobleck.Templates.from_layers(oracle_c(), max_nodes=4, objective="nope")
    assert e.value.status == ergon.Status.INVALID_ARGUMENT
    with oobleck.Templates.from_layers(oracle_c(), max_nodes=12, node_memory_bytes=1500) as t:
        with pytest.raises(ergon.ErgonError) as e:
            t.plan(fault_tolerance=6, microbatches=128)
        assert "fault tolerance f = 6" in str(e.value)
        with t.plan(fault_tolerance=2, microbatches=128) as plan:
            with pytest.raises(ergon.ErgonError) as e:
                plan.reconfigure([0, 3, 6, 9])
            assert e.value.status == ergon.Status.INVALID_STATE
            assert "training must restart" in str(e.value)
            with pytest.raises(ergon.ErgonError) as e:
                plan.reconfigure([12])
            assert e.value.status == ergon.Status.OUT_OF_RANGE


def test_develop_objective():
    # E5 of the notes: 8 layers (f = 1, b = 2), 4 GPUs, intra-node all-reduce 3.0 per layer:
    # four 1-GPU stages of 2 layers, T = 102.
    layers = [
        {"forward": 1, "backward": 2, "allreduce_in_node": {"2": 3.0, "4": 3.0}} for _ in range(8)
    ]
    with oobleck.Templates.from_layers(layers, max_nodes=1, gpus_per_node=4, objective="develop") as t:
        t1 = t.get(1)
        assert t1["objective"] == pytest.approx(102.0)
        assert [s["gpus"] for s in t1["stages"]] == [1, 1, 1, 1]
