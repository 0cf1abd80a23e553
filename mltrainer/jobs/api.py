"""REST endpoints for jobs and sweeps, as a FastAPI ``APIRouter`` the API app includes.

The includer supplies its authentication, so these routes are protected exactly like the rest of the
API::

    app.include_router(jobs_router, dependencies=[Depends(require_token)])

Errors are our exceptions; the API app's handlers map them to status codes (unknown model type or bad
parameter -> 422, unknown job -> 404, broker down -> its ``JobError`` mapping).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

__all__ = ["router", "TrainJobRequest", "SweepRequest"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


class TrainJobRequest(BaseModel):
    """A training to run in the background (the arguments of ``train_model``)."""

    model_type: str = Field(examples=["momentum_breakout"])
    symbol: str = Field(examples=["AAPL"])
    params: dict[str, Any] = Field(default_factory=dict)
    start: str | None = Field(default=None, description="YYYY-MM-DD")
    end: str | None = Field(default=None, description="YYYY-MM-DD")
    cost_bps: float = Field(default=5.0, ge=0, description="trading cost in basis points")
    n_splits: int = Field(default=5, ge=2, description="walk-forward folds")


class SweepRequest(BaseModel):
    """A grid of parameters trained over several symbols."""

    model_type: str = Field(examples=["momentum_breakout"])
    symbols: list[str] = Field(min_length=1, examples=[["AAPL", "MSFT"]])
    param_grid: dict[str, list[Any]] = Field(default_factory=dict, examples=[{"lookback_period": [10, 20]}])
    start: str | None = None
    end: str | None = None
    cost_bps: float = Field(default=5.0, ge=0)
    n_splits: int = Field(default=5, ge=2)


@router.post("/train", status_code=202)
def submit_train_job(request: TrainJobRequest) -> dict[str, str]:
    """Queue a training; poll ``GET /api/jobs/{job_id}`` for its progress."""
    from mltrainer.jobs import submit_training

    job_id = submit_training(request.model_type, request.symbol, params=request.params, start=request.start,
                             end=request.end, cost_bps=request.cost_bps, n_splits=request.n_splits,
                             actor="api")
    return {"job_id": job_id}


@router.post("/sweep", status_code=202)
def submit_sweep_job(request: SweepRequest) -> dict[str, str]:
    """Queue one training per symbol and grid combination; poll ``GET /api/jobs/sweeps/{sweep_id}``."""
    from mltrainer.jobs import submit_sweep

    sweep_id = submit_sweep(request.model_type, request.symbols, request.param_grid,
                            cost_bps=request.cost_bps, n_splits=request.n_splits, start=request.start,
                            end=request.end, actor="api")
    return {"sweep_id": sweep_id}


@router.get("")
def list_recent_jobs(limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
    """Recent jobs, newest first."""
    from mltrainer._util import to_jsonable
    from mltrainer.jobs import list_jobs

    return to_jsonable(list_jobs(limit=limit))


@router.get("/sweeps/{sweep_id}")
def get_sweep_status(sweep_id: str) -> dict[str, Any]:
    """The sweep's trials, ranked results and the best trial's Deflated Sharpe Ratio."""
    from mltrainer._util import to_jsonable
    from mltrainer.jobs import sweep_status

    return to_jsonable(sweep_status(sweep_id))


@router.get("/{job_id}")
def get_job_status(job_id: str) -> dict[str, Any]:
    """``{job_id, state, progress, message, model_id, error, created_at, updated_at, ...}``."""
    from mltrainer._util import to_jsonable
    from mltrainer.jobs import job_status

    return to_jsonable(job_status(job_id))
