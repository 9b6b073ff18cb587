#!/usr/bin/env python3
"""Chase's carbon-intensity predictor, re-run with its own settings, as a fixture for ergon.

What it reproduces
  The `chase` branch of ml-energy/zeus (commit 4b249ec, `CarbonMonitor`) forecasts the next
  30-minute slot's carbon intensity with an epsilon-SVR (RBF kernel, C = 100, gamma = 1e-4,
  scikit-learn defaults otherwise: epsilon = 0.1, no feature scaling) on three features per
  row t of the trace:
      sin(2*pi*slot_t/48), cos(2*pi*slot_t/48), hist[t-1]
  where slot_t cycles 1..48 with the *row order* (not the clock), and hist[t-1] is the lag-1
  value of the `hist` column with the first row's lag wrapped around to the LAST row of the
  trace (its `get_prev`). The model is trained once on the `history` rows just before `start`
  (the reference hard-codes 48 rows) and never retrained; the forecast for row t uses the
  actual hist[t-1] as the lag feature. This script re-implements those few lines (it does not
  import zeus) and runs them over every row from `start` to the end.

  Persistence (forecast hist[t] = hist[t-1]) is reported beside it.

  Caveat reproduced on purpose: with start = 48, training row 0 carries the wrapped lag
  hist[n-1], a value from the end of the trace (the future). ergon's own predictor never does
  that; the effect on the SVR is tiny (one of 48 training rows).

Usage (from the repository root):
  /root/.cache/ergon/chase-venv/bin/python bench/chase_reference_forecast.py \
      ../shared/data/zeus/carbon_hist.csv --history 48 --start 48 \
      --out cli/tests/data/chase_reference_forecast.json

The venv needs scikit-learn and pandas (`python3 -m venv DIR && DIR/bin/pip install
scikit-learn pandas`). The JSON written holds the settings, the library versions, the MAE of
both predictors over all steps and over the first and second half of the steps, and every
forecast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.svm import SVR

SLOTS_PER_DAY = 48  # 30-minute slots, as the reference hard-codes (interval_min = 30)


def features(hist: np.ndarray) -> np.ndarray:
    """The reference's feature matrix: time of day from the row order, and the wrapped lag."""
    n = len(hist)
    slot = np.resize(np.arange(1, SLOTS_PER_DAY + 1), n)  # 1..48, 1..48, ... by row
    angle = 2.0 * np.pi * slot / SLOTS_PER_DAY
    prev = np.concatenate([hist[-1:], hist[:-1]])  # row 0 gets the last row's value
    return np.column_stack([np.sin(angle), np.cos(angle), prev])


def mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(forecast - actual)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("carbon_csv")
    parser.add_argument("--history", type=int, default=48)
    parser.add_argument("--start", type=int, default=48)
    parser.add_argument("--out", help="write the JSON here (default: stdout only)")
    args = parser.parse_args()

    df = pd.read_csv(args.carbon_csv)
    hist = df["hist"].to_numpy(dtype=float)
    n = len(hist)
    if not (0 < args.history <= args.start < n):
        print(f"error: need 0 < history <= start < rows ({n})", file=sys.stderr)
        return 2

    x = features(hist)
    lo = args.start - args.history
    model = SVR(kernel="rbf", C=100, gamma=0.0001)
    model.fit(x[lo : args.start], hist[lo : args.start])

    steps = np.arange(args.start, n)
    svr = model.predict(x[steps])
    persistence = hist[steps - 1]
    actual = hist[steps]
    half = len(steps) // 2

    def summary(pred: np.ndarray) -> dict:
        return {
            "mae": mae(pred, actual),
            "mae_first_half": mae(pred[:half], actual[:half]),
            "mae_second_half": mae(pred[half:], actual[half:]),
        }

    result = {
        "format": "chase-reference-forecast/v1",
        "source": "ml-energy/zeus branch chase, CarbonMonitor (re-implemented, see the script)",
        "carbon_csv": args.carbon_csv.rsplit("/", 1)[-1],
        "history": args.history,
        "start": args.start,
        "steps": len(steps),
        "half": half,
        "model": {"kind": "SVR", "kernel": "rbf", "C": 100, "gamma": 0.0001, "epsilon": 0.1},
        "versions": {
            "python": sys.version.split()[0],
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
        "svr": summary(svr),
        "persistence": summary(persistence),
        "forecasts": [
            {
                "step": int(t),
                "timestamp": str(df["timestamp"].iloc[t]),
                "actual": float(a),
                "svr": float(s),
                "persistence": float(p),
            }
            for t, a, s, p in zip(steps, actual, svr, persistence)
        ],
    }
    assert all(math.isfinite(f["svr"]) for f in result["forecasts"])
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(
        f"steps {len(steps)} (rows {args.start}..{n - 1}): "
        f"SVR MAE {result['svr']['mae']:.4f} "
        f"(halves {result['svr']['mae_first_half']:.4f} / {result['svr']['mae_second_half']:.4f}), "
        f"persistence MAE {result['persistence']['mae']:.4f} "
        f"(halves {result['persistence']['mae_first_half']:.4f} / "
        f"{result['persistence']['mae_second_half']:.4f}) gCO2/kWh"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
