"""Chase: the carbon-intensity forecaster of carbon-aware power-limit control.

The class of this module drives the Chase part of the C ABI (``ergon_chase_forecaster_*`` of
``ergon.h``; ``ergon chase forecast`` on the command line). A :class:`CarbonForecaster` is
trained on the grid's carbon intensity (gCO2/kWh, one value per slot, e.g. every 30 minutes)
before a start slot, then forecasts each later slot from the actual intensity of the slot
before it::

    from ergon.chase import CarbonForecaster, forecast

    hist = [619.2, 618.7, ...]                       # one intensity per 30-minute slot
    with CarbonForecaster(hist, history=48, start=48) as f:
        next_ci = f.predict(slot=48, prev_g_per_kwh=hist[47])
    forecasts = forecast(hist, history=48, start=48)  # slots 48.. each from the slot before

Methods (``method=``): ``"ergon"`` (the default: ½ persistence + ½ a least-squares SVM on the
reference predictor's features and hyper-parameters), ``"persistence"`` and ``"svr-like"`` (the
LS-SVM alone); docs/chase.md compares them with the reference's SVR. Only the ``history`` slots
before ``start`` are read for training.

The native handle is released by :meth:`CarbonForecaster.close`, by leaving a ``with`` block,
or when the object is garbage-collected. Any use after closing raises
:class:`~ergon.ErgonError` with ``Status.INVALID_STATE``.
"""

from __future__ import annotations

from ctypes import c_double
from typing import Any, List, Sequence

from ._ffi import Owner, make, utf8

__all__ = ["METHODS", "CarbonForecaster", "forecast"]

METHODS = ("ergon", "persistence", "svr-like")
"""The forecasting methods, as the library and ``ergon chase forecast --method`` name them."""


def _intensities(values: Sequence[float], what: str) -> Any:
    """The values as a C array of doubles (a TypeError naming ``what`` for anything else)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of numbers")
    try:
        items = [float(v) for v in values]
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what} must be a sequence of numbers: {e}") from e
    return (c_double * len(items))(*items)


def _index(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{what} must be a non-negative int, not {value!r}")
    return value


class CarbonForecaster(Owner):
    """A forecaster trained on ``hist_g_per_kwh[start - history : start]``.

    ``slots_per_day`` is the period of the time-of-day features (48 for 30-minute slots).
    Invalid arguments (a window under 2 slots or longer than ``start`` or the series, ``start``
    past the last slot, an intensity outside 0..1e5, an unknown method) raise
    :class:`~ergon.ErgonError` with ``Status.INVALID_ARGUMENT`` and the library's message.
    """

    __slots__ = ("method",)
    _what = "forecaster"

    def __init__(
        self,
        hist_g_per_kwh: Sequence[float],
        history: int = 48,
        start: int = 48,
        *,
        slots_per_day: int = 48,
        method: str = "ergon",
    ) -> None:
        hist = _intensities(hist_g_per_kwh, "hist_g_per_kwh")
        name = utf8(method, "method")
        self.method = method
        self._own(
            make(
                "ergon_chase_forecaster_train",
                "chase_forecaster",
                hist,
                len(hist),
                _index(history, "history"),
                _index(start, "start"),
                _index(slots_per_day, "slots_per_day"),
                name,
                len(name),
            )
        )

    def predict(self, slot: int, prev_g_per_kwh: float) -> float:
        """The forecast for ``slot`` (numbered as the training series) given the actual
        intensity of ``slot - 1``, gCO2/kWh."""
        return float(
            self._get("predict", c_double, _index(slot, "slot"), float(prev_g_per_kwh)).value
        )


def forecast(
    hist_g_per_kwh: Sequence[float],
    history: int = 48,
    start: int = 48,
    *,
    slots_per_day: int = 48,
    method: str = "ergon",
) -> List[float]:
    """One-step-ahead forecasts of every slot from ``start`` to the end of ``hist_g_per_kwh``,
    each from the slots before it (the model trained once on the ``history`` slots before
    ``start``): what ``ergon chase forecast`` prints."""
    values = [float(v) for v in hist_g_per_kwh]
    with CarbonForecaster(
        values, history, start, slots_per_day=slots_per_day, method=method
    ) as f:
        return [f.predict(t, values[t - 1]) for t in range(start, len(values))]
