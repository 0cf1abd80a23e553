"""Ensemble arithmetic: weight validation/normalisation, the blended score and OOS-derived weights.

Pure functions over plain values so the rules are testable by hand; the service feeds them member
predictions and OOS return histories.

Score and thresholds
--------------------
``score = Σ wᵢ · signalᵢ · strengthᵢ`` with the weights normalised to sum to 1, so ``score`` lies in
[-1, 1]. The ensemble is BUY when ``score >= BUY_THRESHOLD`` and SELL when ``score <= SELL_THRESHOLD``,
else HOLD; its strength is ``|score|``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import pandas as pd

from mltrainer.errors import EnsembleError

__all__ = [
    "BUY_THRESHOLD",
    "SELL_THRESHOLD",
    "MAX_ENSEMBLE_MODELS",
    "MIN_OOS_OVERLAP_DAYS",
    "WeightSpec",
    "parse_weights",
    "normalise_weights",
    "blend",
    "BlendResult",
    "oos_weights",
    "validate_model_ids",
    "signal_from_score",
]

log = logging.getLogger(__name__)

#: Score at or above which the ensemble says BUY. 0.2 means, e.g., that at least a fifth of the total
#: weight must sit on full-strength BUY signals net of SELLs — a weak or split vote stays HOLD.
BUY_THRESHOLD = 0.2
#: Score at or below which the ensemble says SELL (the mirror of :data:`BUY_THRESHOLD`).
SELL_THRESHOLD = -0.2
#: Most models one ensemble request may blend.
MAX_ENSEMBLE_MODELS = 20
#: Fewest common out-of-sample days needed to derive ``weights="oos"``.
MIN_OOS_OVERLAP_DAYS = 20


@dataclass(frozen=True)
class WeightSpec:
    """Validated weights request: ``method`` is ``equal``, ``given`` or ``oos``; ``raw`` by model id
    (``None`` for ``oos``, whose weights are derived later)."""

    method: str
    raw: dict[str, float] | None


def validate_model_ids(model_ids: Any) -> list[str]:
    """A non-empty list of distinct, non-blank model ids (at most :data:`MAX_ENSEMBLE_MODELS`)."""
    if isinstance(model_ids, str):
        model_ids = model_ids.split(",")
    if not isinstance(model_ids, Sequence) or len(model_ids) == 0:
        raise EnsembleError("An ensemble needs at least one model id, e.g. model_ids=['a', 'b'].")
    ids = []
    for m in model_ids:
        if not isinstance(m, str) or not m.strip():
            raise EnsembleError("Every ensemble model id must be a non-empty string.")
        ids.append(m.strip())
    if len(ids) > MAX_ENSEMBLE_MODELS:
        raise EnsembleError(
            f"An ensemble blends at most {MAX_ENSEMBLE_MODELS} models; {len(ids)} were given.")
    duplicates = sorted({m for m in ids if ids.count(m) > 1})
    if duplicates:
        raise EnsembleError(f"Model ids must be distinct; repeated: {', '.join(duplicates)}. "
                            "To weight a model more, give it a larger weight instead.")
    return ids


def _as_weight(value: Any, model_id: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (Real, str)):
        raise EnsembleError(f"Weight for {model_id!r} must be a number, got {type(value).__name__}.")
    try:
        number = float(value)
    except ValueError:
        raise EnsembleError(f"Weight for {model_id!r} must be a number, got {str(value)[:40]!r}.") from None
    if not math.isfinite(number):
        raise EnsembleError(f"Weight for {model_id!r} must be a finite number, got {number}.")
    if number < 0:
        raise EnsembleError(f"Weight for {model_id!r} must not be negative, got {number:g}.")
    return number


def parse_weights(model_ids: Sequence[str], weights: Any) -> WeightSpec:
    """Validate a weights request against the listed models.

    ``weights`` may be ``None`` (equal), ``"oos"``, a sequence with one weight per model in order, a
    comma-separated string of numbers, or a mapping with a weight for every listed model id (and no
    other). Each weight must be finite and non-negative and at least one positive.
    """
    ids = list(model_ids)
    if weights is None:
        return WeightSpec("equal", {m: 1.0 / len(ids) for m in ids})
    if isinstance(weights, str):
        text = weights.strip()
        if text.lower() == "oos":
            return WeightSpec("oos", None)
        if text.lower() == "equal":
            return WeightSpec("equal", {m: 1.0 / len(ids) for m in ids})
        weights = text.split(",")
    if isinstance(weights, Mapping):
        unknown = sorted(str(k) for k in weights if k not in ids)
        if unknown:
            raise EnsembleError(f"Weights given for models not in the ensemble: {', '.join(unknown)}. "
                                f"Listed models: {', '.join(ids)}.")
        missing = [m for m in ids if m not in weights]
        if missing:
            raise EnsembleError(f"No weight given for: {', '.join(missing)}; give every listed model a "
                                "weight (0 to leave one out).")
        raw = {m: _as_weight(weights[m], m) for m in ids}
    elif isinstance(weights, Sequence):
        if len(weights) != len(ids):
            raise EnsembleError(f"{len(weights)} weights given for {len(ids)} models; give one weight per "
                                "model, in the same order as model_ids.")
        raw = {m: _as_weight(w, m) for m, w in zip(ids, weights, strict=False)}
    else:
        raise EnsembleError("weights must be a list of numbers, a mapping of model id to number, or 'oos'.")
    if not any(w > 0 for w in raw.values()):
        raise EnsembleError("At least one ensemble weight must be positive; all were zero.")
    return WeightSpec("given", raw)


def normalise_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Scale non-negative weights to sum to 1 (raises ``EnsembleError`` when they sum to 0)."""
    largest = max((float(w) for w in weights.values()), default=0.0)
    if not largest > 0:
        raise EnsembleError("Ensemble weights sum to zero; at least one weight must be positive.")
    # Dividing by the largest first keeps huge finite weights (1e308 + 1e308 = inf) summable.
    scaled = {m: float(w) / largest for m, w in weights.items()}
    total = math.fsum(scaled.values())
    return {m: w / total for m, w in scaled.items()}


@dataclass(frozen=True)
class BlendResult:
    """The blended signal of members ``{model_id: (signal, strength, confidence)}``."""

    score: float
    signal: int
    strength: float
    confidence: float
    agreement: float


def signal_from_score(score: float) -> int:
    """+1 at or above :data:`BUY_THRESHOLD`, -1 at or below :data:`SELL_THRESHOLD`, else 0."""
    if score >= BUY_THRESHOLD:
        return 1
    if score <= SELL_THRESHOLD:
        return -1
    return 0


def blend(members: Mapping[str, tuple[int, float, float]], weights: Mapping[str, float]) -> BlendResult:
    """Combine member ``(signal, strength, confidence)`` with normalised ``weights`` (same keys).

    ``agreement`` is the total weight of members whose signal equals the ensemble signal;
    ``confidence`` is the weight-averaged confidence of those members, or 0.0 when no member agrees
    (e.g. an even BUY/SELL split that nets to HOLD: no member vouches for HOLD).
    """
    score = sum(weights[m] * int(s) * float(st) for m, (s, st, _) in members.items())
    score = max(-1.0, min(1.0, score))  # guards float rounding only; |score| <= 1 by construction
    signal = signal_from_score(score)
    agreeing = {m: weights[m] for m, (s, _, _) in members.items() if int(s) == signal}
    agreement = float(sum(agreeing.values()))
    if agreement > 0:
        confidence = sum(w * float(members[m][2]) for m, w in agreeing.items()) / agreement
    else:
        confidence = 0.0
    return BlendResult(score=float(score), signal=signal, strength=abs(float(score)),
                       confidence=float(confidence), agreement=min(1.0, agreement))


def oos_weights(returns: Mapping[str, pd.Series]) -> dict[str, float]:
    """Inverse-volatility weights from the members' out-of-sample daily returns (skfolio).

    The return series are aligned on their common dates; at least :data:`MIN_OOS_OVERLAP_DAYS` are
    required. A member whose OOS returns never varied (e.g. it never traded) cannot be weighted by risk
    and is rejected with a message naming it.
    """
    if not returns:
        raise EnsembleError("No out-of-sample return history available to derive 'oos' weights.")
    frame = pd.concat({m: pd.Series(r, dtype="float64") for m, r in returns.items()}, axis=1, join="inner")
    frame = frame.dropna()
    if len(frame) < MIN_OOS_OVERLAP_DAYS:
        raise EnsembleError(
            f"'oos' weights need at least {MIN_OOS_OVERLAP_DAYS} common out-of-sample days across the "
            f"models; they share {len(frame)}. Use equal or explicit weights, or models trained on "
            "overlapping periods."
        )
    if len(frame.columns) == 1:
        return {frame.columns[0]: 1.0}
    flat = [m for m in frame.columns if not frame[m].std() > 0]
    if flat:
        raise EnsembleError(f"'oos' weights need varying out-of-sample returns; flat for: {', '.join(flat)} "
                            "(the model never held a position). Use explicit weights instead.")
    from skfolio.optimization import InverseVolatility

    model = InverseVolatility().fit(frame.to_numpy())
    raw = {m: float(w) for m, w in zip(frame.columns, model.weights_, strict=False)}
    if any(not math.isfinite(w) or w < 0 for w in raw.values()):
        raise EnsembleError(
            "Could not derive 'oos' weights from the out-of-sample returns; use explicit weights.")
    return normalise_weights(raw)
