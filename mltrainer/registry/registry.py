"""The model registry: metadata rows in the ``models`` table plus one signed artifact per model.

Ids are ``{model_type}_{SYMBOL}_{YYYYMMDD}`` (UTC training date), then ``_v2``, ``_v3`` … when taken.
The id is allocated by *trying the insert*: the primary key makes the database the arbiter, so two
processes registering at the same moment get distinct ids. Nothing is ever overwritten — neither a
row (insert only) nor a file (published with ``link``, which refuses an existing target) — and an id
once trained is never given to another model, even after its model was deleted (the audit trail
remembers it).

Registration is all-or-nothing: the artifact is staged in ``settings.tmp_dir``, the row inserted in a
transaction, the staged file linked to its final name, then the transaction commits. Any failure
(including an interrupt) removes the staged/final file and rolls the row back; a registration whose
``model.train`` audit record cannot be written is undone too. Staged files orphaned by a killed process
are swept by the next registration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mltrainer import __version__
from mltrainer._util import to_jsonable
from mltrainer.audit import AuditRecord, get_audit_trail
from mltrainer.config import Settings, get_settings
from mltrainer.db import get_engine
from mltrainer.errors import ArtifactIntegrityError, InvalidInputError, ModelNotFoundError, RegistryError
from mltrainer.registry import artifacts
from mltrainer.registry.models_table import ModelRow

__all__ = ["ModelRecord", "ModelRegistry", "get_registry", "symbol_for_id", "model_id_base"]

log = logging.getLogger(__name__)

_MAX_VERSIONS = 10_000
_SYMBOL_ID_RE = re.compile(r"[^A-Za-z0-9]+")


def symbol_for_id(symbol: str) -> str:
    """The symbol as it appears in model ids: upper case, characters other than A-Z/0-9 dropped.

    ``'^GSPC' -> 'GSPC'``, ``'BRK.B' -> 'BRKB'``, ``'aapl' -> 'AAPL'``. The ``symbol`` column keeps the
    original spelling, so two symbols that map to the same id part stay distinguishable (and their
    ids are still unique thanks to versioning).
    """
    cleaned = _SYMBOL_ID_RE.sub("", str(symbol)).upper()
    if not cleaned:
        raise InvalidInputError(f"Symbol {symbol!r} has no letters or digits; use a ticker such as AAPL.")
    return cleaned


def model_id_base(model_type: str, symbol: str, when: dt.datetime | dt.date | None = None) -> str:
    """``{model_type}_{SYMBOL}_{YYYYMMDD}`` for the UTC date ``when`` (default: now)."""
    when = when or dt.datetime.now(dt.UTC)
    if isinstance(when, dt.datetime) and when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return f"{model_type}_{symbol_for_id(symbol)}_{when:%Y%m%d}"


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """Everything the registry knows about one trained model (metrics are out-of-sample)."""

    model_id: str
    model_type: str
    symbol: str
    params: dict[str, Any]
    train_start: dt.date
    train_end: dt.date
    data_rows: int
    data_fingerprint: str
    metrics: dict[str, Any]
    folds: list[dict[str, Any]]
    buy_and_hold: dict[str, Any]
    calibration: dict[str, Any] | None
    oos_returns: dict[str, Any] | None
    cost_bps: float
    n_splits: int
    created_at: dt.datetime
    package_version: str
    artifact_path: str
    signature: str
    status: str
    #: Source (``offline``/``polygon``) and dataset of the training bars; None for models registered
    #: before they were recorded.
    data_source: str | None = None
    dataset: str | None = None

    def oos_return_series(self) -> pd.Series:
        """The out-of-sample daily strategy returns (fractions) indexed by ``date``."""
        data = self.oos_returns or {"dates": [], "returns": []}
        index = pd.DatetimeIndex(pd.to_datetime(data.get("dates", [])), name="date")
        return pd.Series(data.get("returns", []), index=index, dtype="float64", name="oos_return")

    def oos_equity_curve(self) -> pd.Series:
        """Growth of 1.0 invested in the strategy over the out-of-sample period."""
        return (1.0 + self.oos_return_series()).cumprod().rename("oos_equity")

    def summary(self) -> dict[str, Any]:
        """A compact JSON-able view for lists (no fold details or return series)."""
        return to_jsonable({
            "model_id": self.model_id, "model_type": self.model_type, "symbol": self.symbol,
            "train_start": self.train_start, "train_end": self.train_end, "created_at": self.created_at,
            "metrics": self.metrics, "cost_bps": self.cost_bps, "n_splits": self.n_splits,
            "status": self.status,
        })

    def to_dict(self, include_returns: bool = False) -> dict[str, Any]:
        data = to_jsonable(self)
        if not include_returns:
            data.pop("oos_returns", None)
        return data


def _record(row: ModelRow) -> ModelRecord:
    created = row.created_at
    if created.tzinfo is None:  # SQLite drops the offset; we only ever store UTC
        created = created.replace(tzinfo=dt.UTC)
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(ModelRecord)}
    values["created_at"] = created
    return ModelRecord(**values)


def _oos_returns_json(returns: pd.Series | None) -> dict[str, Any] | None:
    if returns is None:
        return None
    series = pd.Series(returns, dtype="float64")
    dates = pd.DatetimeIndex(series.index)
    return {
        "dates": [d.date().isoformat() for d in dates],
        "returns": to_jsonable(series.to_numpy()),
    }


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class ModelRegistry:
    """Register, find, load, verify and delete trained models."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()

    # -- plumbing -------------------------------------------------------------------------------------
    def _session(self) -> Session:
        return sessionmaker(bind=get_engine(self.settings), expire_on_commit=False)()

    def _artifact_file(self, relative: str) -> Path:
        """Absolute artifact path; refuses paths that escape ``home`` (e.g. an edited row)."""
        home = self.settings.home.resolve()
        path = (home / relative).resolve()
        if home not in path.parents:
            raise ArtifactIntegrityError(
                "The recorded artifact path points outside MLTRAINER_HOME; it was not loaded."
            )
        return path

    def _next_version(self, base: str) -> int:
        """First version never used for ``base``: beyond every registered id *and* every id ever trained
        (audit trail), so a deleted model's id is never given to a different model — caches and
        people may still refer to it. Only a starting hint: the insert itself settles races."""
        pattern = re.compile(re.escape(base) + r"(?:_v(\d+))?$")
        used = 0
        with self._session() as session:
            ids = list(session.scalars(
                select(ModelRow.model_id).where(ModelRow.model_id.startswith(base, autoescape=True))
            ))
            ids += session.scalars(
                select(AuditRecord.target).where(AuditRecord.action == "model.train",
                                                 AuditRecord.target.startswith(base, autoescape=True))
            )
        for model_id in ids:
            match = pattern.match(model_id)
            if match:
                used = max(used, int(match.group(1) or 1))
        return used + 1

    def _insert(self, session: Session, row: ModelRow) -> None:
        """Insert ``row`` and flush so a taken id fails now (IntegrityError), inside the transaction."""
        session.add(row)
        session.flush()

    def _publish(self, staged: Path, final: Path) -> None:
        """Give the staged file its final name; FileExistsError if taken (link never overwrites)."""
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.link(staged, final)

    # -- write ----------------------------------------------------------------------------------------
    def register(self, *, model_type: str, symbol: str, bundle: dict[str, Any], params: dict[str, Any],
                 train_start: Any, train_end: Any, data_rows: int, data_fingerprint: str,
                 metrics: dict[str, Any], folds: list[dict[str, Any]], buy_and_hold: dict[str, Any],
                 calibration: dict[str, Any] | None = None, oos_returns: pd.Series | None = None,
                 cost_bps: float = 5.0, n_splits: int = 5, actor: str = "user",
                 audit_details: dict[str, Any] | None = None, data_source: str | None = None,
                 dataset: str | None = None) -> ModelRecord:
        """Store ``bundle`` (a dict holding at least ``"model"``) as a signed artifact and add its row.

        ``data_source``/``dataset`` record where the training bars came from (the bars' provenance),
        so the model can be reproduced from the same source.

        All or nothing; audited as ``model.train``. Returns the new record.
        """
        if "model" not in bundle:
            raise RegistryError("A model bundle must contain the fitted model under 'model'.")
        created = dt.datetime.now(dt.UTC)
        base = model_id_base(model_type, symbol, created)
        self.settings.models_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        staged, signature = artifacts.write_staged_artifact(bundle, self.settings)
        final: Path | None = None
        session = self._session()
        try:
            for version in range(self._next_version(base), _MAX_VERSIONS):
                model_id = base if version == 1 else f"{base}_v{version}"
                candidate = self.settings.models_dir / f"{model_id}.joblib"
                row = ModelRow(
                    model_id=model_id, model_type=model_type, symbol=symbol,
                    params=to_jsonable(params), train_start=pd.Timestamp(train_start).date(),
                    train_end=pd.Timestamp(train_end).date(), data_rows=int(data_rows),
                    data_fingerprint=data_fingerprint, metrics=to_jsonable(metrics),
                    folds=to_jsonable(folds), buy_and_hold=to_jsonable(buy_and_hold),
                    calibration=to_jsonable(calibration), oos_returns=_oos_returns_json(oos_returns),
                    cost_bps=float(cost_bps), n_splits=int(n_splits), created_at=created,
                    package_version=__version__,
                    artifact_path=candidate.relative_to(self.settings.home).as_posix(),
                    signature=signature, status="ready", data_source=data_source, dataset=dataset,
                )
                try:
                    self._insert(session, row)
                except IntegrityError:
                    session.rollback()
                    continue
                try:
                    self._publish(staged, candidate)
                except FileExistsError:
                    if _same_file(staged, candidate):  # the link succeeded before the error
                        candidate.unlink(missing_ok=True)
                        raise
                    # A stray file without a row (e.g. restored by hand): keep it, take the next id.
                    log.warning("artifact %s exists without a registry row; skipping that id", candidate.name)
                    session.rollback()
                    continue
                except BaseException:
                    if _same_file(staged, candidate):
                        candidate.unlink(missing_ok=True)
                    raise
                final = candidate
                session.commit()
                break
            else:
                raise RegistryError(f"Could not allocate a model id for {base}: too many versions today.")
        except BaseException:
            session.rollback()
            if final is not None:
                final.unlink(missing_ok=True)
            raise
        finally:
            session.close()
            staged.unlink(missing_ok=True)
        details = {"model_type": model_type, "symbol": symbol, "signature": signature,
                   "data_fingerprint": data_fingerprint, **(audit_details or {})}
        try:
            get_audit_trail(self.settings).record("model.train", model_id, details, actor=actor)
        except BaseException:
            # No model without its audit record: undo the registration, then report the failure.
            self._discard(model_id, final)
            raise
        log.info("registered model %s", model_id)
        return self.get(model_id)

    def _discard(self, model_id: str, path: Path) -> None:
        """Remove a just-registered model's row and file without auditing (registration rollback)."""
        try:
            with self._session() as session:
                row = session.get(ModelRow, model_id)
                if row is not None:
                    session.delete(row)
                session.commit()
        finally:
            path.unlink(missing_ok=True)

    def delete(self, model_id: str, actor: str = "user") -> None:
        """Remove the model's row and artifact (audited as ``model.delete``)."""
        record = self.get(model_id)
        path = self._artifact_file(record.artifact_path)
        self.settings.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        trash = self.settings.tmp_dir / f"deleted-{uuid.uuid4().hex}.joblib"
        moved = False
        session = self._session()
        try:
            row = session.get(ModelRow, model_id)
            if row is None:
                raise self._not_found(model_id)
            session.delete(row)
            session.flush()
            # Move the file aside first so a failed commit can put it back.
            if path.exists():
                os.replace(path, trash)
                moved = True
            session.commit()
        except BaseException:
            session.rollback()
            if moved:
                os.replace(trash, path)
            raise
        finally:
            session.close()
        trash.unlink(missing_ok=True)
        get_audit_trail(self.settings).record(
            "model.delete", model_id,
            {"model_type": record.model_type, "symbol": record.symbol, "signature": record.signature},
            actor=actor,
        )
        log.info("deleted model %s", model_id)

    # -- read -----------------------------------------------------------------------------------------
    def _not_found(self, model_id: str) -> ModelNotFoundError:
        with self._session() as session:
            ids = list(session.scalars(select(ModelRow.model_id)))
        close = difflib.get_close_matches(str(model_id), ids, n=3, cutoff=0.6)
        hint = (f" Did you mean {', '.join(close)}?" if close
                else " List models with `python -m mltrainer models list`.")
        return ModelNotFoundError(f"No model with id {model_id!r}.{hint}")

    def get(self, model_id: str) -> ModelRecord:
        """The record of ``model_id``; ``ModelNotFoundError`` (with close matches) if unknown."""
        with self._session() as session:
            row = session.get(ModelRow, str(model_id))
            if row is not None:
                return _record(row)
        raise self._not_found(model_id)

    def list(self, model_type: str | None = None, symbol: str | None = None) -> list[ModelRecord]:
        """Every model, newest first, optionally filtered by type and/or symbol (exact spelling)."""
        stmt = select(ModelRow).order_by(ModelRow.created_at.desc(), ModelRow.model_id.desc())
        if model_type:
            stmt = stmt.where(ModelRow.model_type == model_type)
        if symbol:
            stmt = stmt.where(ModelRow.symbol == symbol)
        with self._session() as session:
            return [_record(row) for row in session.scalars(stmt)]

    def load_bundle(self, model_id: str, actor: str = "system") -> dict[str, Any]:
        """The full verified artifact dict (``model``, ``calibration``, …); audited as ``model.load``."""
        record = self.get(model_id)
        path = self._artifact_file(record.artifact_path)
        bundle = artifacts.load_artifact(path, record.signature, self.settings)
        if not isinstance(bundle, dict) or "model" not in bundle:
            raise ArtifactIntegrityError(f"Artifact of {model_id} is not a model bundle; retrain the model.")
        get_audit_trail(self.settings).record(
            "model.load", model_id, {"signature": record.signature}, actor=actor
        )
        return bundle

    def load_model(self, model_id: str, actor: str = "system") -> Any:
        """The fitted model, after its signature is verified; audited as ``model.load``."""
        return self.load_bundle(model_id, actor=actor)["model"]

    def verify(self, model_id: str) -> bool:
        """Whether the artifact exists and matches its recorded signature (never unpickles)."""
        record = self.get(model_id)
        try:
            path = self._artifact_file(record.artifact_path)
        except ArtifactIntegrityError:
            return False
        return artifacts.verify_artifact(path, record.signature, self.settings)

    def artifact_file(self, model_id: str) -> Path:
        """Absolute path of the model's artifact (for diagnostics; load through the registry)."""
        return self._artifact_file(self.get(model_id).artifact_path)


def get_registry(settings: Settings | None = None) -> ModelRegistry:
    """The registry of the configured metadata database and ``MLTRAINER_HOME``."""
    return ModelRegistry(settings)
