"""Result objects of the prediction service: frozen dataclasses with JSON-ready ``to_dict()``.

Units: prices in the bars' currency (adjusted), ``price_change_1d`` and every return a fraction
(0.01 = 1%), ``strength``/``confidence``/weights in [0, 1], dates ISO ``YYYY-MM-DD``, timestamps UTC ISO.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mltrainer._util import to_jsonable

__all__ = ["Prediction", "BulkPrediction", "EnsembleMember", "EnsemblePrediction", "signal_label"]

_LABELS = {-1: "SELL", 0: "HOLD", 1: "BUY"}


def signal_label(signal: int) -> str:
    """SELL / HOLD / BUY for a signal of -1 / 0 / +1."""
    return _LABELS[int(signal)]


@dataclass(frozen=True)
class Prediction:
    """The latest signal of one model for one symbol.

    ``as_of`` is the date of the last bar the model saw; ``signal`` is the position to hold after that
    bar's close. ``confidence`` is the model's calibrated out-of-sample probability that a signal of
    this strength pointed the right way over its holding horizon (from the registry record).
    """

    model_id: str
    symbol: str
    as_of: str
    signal: int
    label: str
    strength: float
    confidence: float
    latest_price: float
    price_change_1d: float | None
    analysis: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    generated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> Prediction:
        """Rebuild a prediction from :meth:`to_dict` output (e.g. a cache entry); unknown keys ignored."""
        names = _PREDICTION_FIELDS
        values = {k: v for k, v in data.items() if k in names}
        values.update(overrides)
        return cls(**values)


# Field names looked up once: dataclasses.fields() per cache hit was a fifth of a cached bulk request.
_PREDICTION_FIELDS = frozenset(f.name for f in dataclasses.fields(Prediction))


@dataclass(frozen=True)
class BulkPrediction:
    """Predictions of one model for many symbols; a failing symbol is in ``errors`` with its message."""

    model_id: str
    predictions: tuple[Prediction, ...]
    errors: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "predictions": [p.to_dict() for p in self.predictions],
            "errors": dict(self.errors),
        }


@dataclass(frozen=True)
class EnsembleMember:
    """One model's contribution to an ensemble. A failed member has ``error`` set, no signal, weight 0."""

    model_id: str
    signal: int | None
    label: str | None
    strength: float | None
    confidence: float | None
    weight: float
    requested_weight: float
    error: str | None = None


@dataclass(frozen=True)
class EnsemblePrediction:
    """A weighted blend of several models' signals for one symbol.

    ``score`` = Σ wᵢ·signalᵢ·strengthᵢ over the members that succeeded (weights re-normalised over
    them); ``signal`` follows the thresholds in ``thresholds``; ``strength`` = |score|; ``agreement`` =
    total weight of members whose signal equals the ensemble's; ``confidence`` = weight-averaged
    confidence of those agreeing members (0 when none agrees). ``weights`` are the normalised weights
    actually used; ``weights_method`` says where they came from (``equal``, ``given`` or ``oos``).
    """

    symbol: str
    as_of: str | None
    signal: int
    label: str
    score: float
    strength: float
    confidence: float
    agreement: float
    weights: dict[str, float]
    weights_method: str
    members: tuple[EnsembleMember, ...]
    failed_members: tuple[str, ...]
    renormalised: bool
    thresholds: dict[str, float]
    note: str | None = None
    generated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)
