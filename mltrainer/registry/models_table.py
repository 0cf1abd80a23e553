"""The ``models`` table of the metadata database: one row per trained model, never updated in place.

``model_id`` is the primary key, so the database itself guarantees that two trainings can never share
an id; the registry allocates ids by trying the insert and moving to the next ``_vN`` on conflict.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mltrainer.db import Base

__all__ = ["ModelRow"]


class ModelRow(Base):
    """A trained model's metadata. JSON columns hold plain JSON (``to_jsonable`` output)."""

    __tablename__ = "models"

    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_type: Mapped[str] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    train_start: Mapped[dt.date] = mapped_column(Date)
    train_end: Mapped[dt.date] = mapped_column(Date)
    data_rows: Mapped[int] = mapped_column(Integer)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    folds: Mapped[list[Any]] = mapped_column(JSON)
    buy_and_hold: Mapped[dict[str, Any]] = mapped_column(JSON)
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: {"dates": [YYYY-MM-DD, ...], "returns": [fraction, ...]} — the OOS daily strategy returns,
    #: kept out of the pickle so serving and the dashboard can read them without unpickling.
    oos_returns: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    cost_bps: Mapped[float] = mapped_column(Float)
    n_splits: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    package_version: Mapped[str] = mapped_column(String(32))
    artifact_path: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ready")
    #: Where the training bars came from (``bars.attrs["provenance"]``): ``offline``/``polygon`` and the
    #: dataset's description. NULL for models registered before provenance was recorded.
    data_source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dataset: Mapped[str | None] = mapped_column(Text, nullable=True)
