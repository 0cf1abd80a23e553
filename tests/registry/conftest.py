"""Fixtures of the registry tests: a tiny, hand-made model bundle (no market data involved)."""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression


@pytest.fixture
def tiny_bundle():
    """A fitted estimator whose learned values are known by hand: y = 2x + 1."""
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    return {"model": model, "note": "hand-made"}


@pytest.fixture
def register_tiny(tiny_bundle):
    """Register ``tiny_bundle`` with hand-written metadata; returns a function(model_type, symbol)."""
    from mltrainer.registry import get_registry

    def _register(model_type="momentum", symbol="AAPL", **overrides):
        kwargs = dict(
            model_type=model_type, symbol=symbol, bundle=tiny_bundle, params={"lookback": 20},
            train_start="2020-01-02", train_end="2020-12-31", data_rows=253,
            data_fingerprint="ab" * 32, metrics={"sharpe": 0.5, "total_return": 0.12},
            folds=[{"fold": 0, "sharpe": 0.4}], buy_and_hold={"sharpe": 0.9},
            calibration={"base_rate": 0.52}, cost_bps=5.0, n_splits=3,
            oos_returns=pd.Series([0.01, -0.02], index=pd.to_datetime(["2020-06-01", "2020-06-02"])),
        )
        kwargs.update(overrides)
        return get_registry().register(**kwargs)

    return _register


PG_ADMIN_URL = os.environ.get("MLTRAINER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_database(monkeypatch):
    """Point MLTRAINER_DATABASE_URL at a fresh PostgreSQL schema (dropped afterwards).

    Skipped when PostgreSQL is unreachable, unless MLTRAINER_REQUIRE_SERVICES is set.
    """
    import sqlalchemy as sa

    from mltrainer.db import dispose_engines

    admin = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        if os.environ.get("MLTRAINER_REQUIRE_SERVICES", "").strip() not in ("", "0"):
            pytest.fail(f"PostgreSQL unreachable ({type(exc).__name__}); MLTRAINER_REQUIRE_SERVICES is set")
        pytest.skip(f"PostgreSQL unreachable ({type(exc).__name__})")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("MLTRAINER_DATABASE_URL", url)
    try:
        yield url
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
