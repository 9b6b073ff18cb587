"""ergon.chase: the carbon-intensity forecaster from Python.

On the shared carbon trace: persistence equals the previous slot (as in the reference script's
fixture), the default method beats the reference SVR's MAE (the fixture written with
scikit-learn by ``bench/chase_reference_forecast.py``), ``forecast`` equals ``ergon chase
forecast --json``, and bad input raises with the library's message.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
from conftest import REPO, fails

import ergon
from ergon import Status
from ergon.chase import METHODS, CarbonForecaster, forecast

CARBON = REPO.parent / "shared" / "data" / "zeus" / "carbon_hist.csv"
REFERENCE = REPO / "cli" / "tests" / "data" / "chase_reference_forecast.json"


def hist() -> List[float]:
    lines = CARBON.read_text().splitlines()[1:]
    return [float(line.split(",")[4]) for line in lines]


def reference() -> Dict[str, Any]:
    return json.loads(REFERENCE.read_text())


def mae(forecasts: List[float], actual: List[float]) -> float:
    return sum(abs(f - a) for f, a in zip(forecasts, actual)) / len(actual)


def test_default_beats_the_reference_svr_and_persistence() -> None:
    h = hist()
    ref = reference()
    actual = h[48:]
    persistence = forecast(h, 48, 48, method="persistence")
    assert persistence == [r["persistence"] for r in ref["forecasts"]]
    assert mae(forecast(h, 48, 48), actual) <= ref["svr"]["mae"]
    assert mae(forecast(h, 48, 48), actual) <= ref["persistence"]["mae"]


def test_forecast_equals_the_command(cli: Path) -> None:
    out = subprocess.run(
        [str(cli), "chase", "forecast", "--carbon", str(CARBON), "--json", "--method", "svr-like"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = json.loads(out)
    assert [e["forecast"] for e in doc["forecasts"]] == forecast(hist(), method="svr-like")


def test_bad_input_raises_with_the_library_message() -> None:
    h = hist()
    with fails(Status.INVALID_ARGUMENT, 'unknown forecast method "svr"', "svr-like"):
        CarbonForecaster(h, method="svr")
    with fails(Status.INVALID_ARGUMENT, "beyond the end"):
        CarbonForecaster(h, 48, 167)
    with fails(Status.INVALID_ARGUMENT, "slot 3"):
        CarbonForecaster(h[:3] + [float("nan")] + h[4:])
    with pytest.raises(TypeError):
        CarbonForecaster(h, history=-1)
    with CarbonForecaster(h) as f:
        with fails(Status.INVALID_ARGUMENT, "prev_g_per_kwh"):
            f.predict(48, float("nan"))
    with fails(Status.INVALID_STATE):
        f.predict(48, 600.0)
    assert ergon.live_handles()["chase_forecaster"] == 0
    assert set(METHODS) == {"ergon", "persistence", "svr-like"}
