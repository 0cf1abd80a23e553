"""The one exception tree of mlTrainer.

Every error a user can cause is an ``MLTrainerError``; its message is safe to show as-is (no secrets,
no tracebacks) and says how to fix the input. Pages catch ``MLTrainerError`` and show ``st.error``;
the API maps the tree to HTTP status codes; the CLI prints one line and exits 1. Anything else that
escapes is a bug.

    MLTrainerError
    ├── ConfigError                      bad setting / environment variable
    ├── InvalidInputError                bad value from the user               -> HTTP 422
    │   ├── InvalidParameterError        bad model/backtest parameter
    │   ├── SignalAlignmentError         signal index does not match the bars
    │   └── InsufficientDataError        too little history for the request
    ├── NotFoundError                    something named does not exist        -> HTTP 404
    │   ├── UnknownSymbolError           symbol not offered by the source
    │   ├── UnknownSeriesError           macro series not offered by the source
    │   ├── UnknownModelTypeError        model type not in MODEL_TYPES
    │   ├── ModelNotFoundError           model id not in the registry
    │   └── JobNotFoundError             job id not known
    ├── DataError                        market data problems
    │   ├── DataSourceError              provider failure: key, network, timeout, malformed body
    │   └── DataValidationError          bars failed validation (``.problems`` lists them by date)
    ├── NotFittedError                   predict() before fit() (a ValueError and AttributeError, like sklearn's)
    ├── ArtifactIntegrityError           model artifact missing, unsigned or tampered
    ├── RegistryError                    metadata database problems
    ├── ServingError                     prediction / ensemble failures
    │   └── EnsembleError                invalid ensemble request or all members failed
    ├── ComplianceError                  compliance machinery problems
    │   └── ComplianceBlockedError       code blocked by non-overridden violations
    ├── AuditError                       audit trail problems
    └── JobError                         background job problems
"""

from __future__ import annotations

__all__ = [
    "MLTrainerError",
    "ConfigError",
    "InvalidInputError",
    "InvalidParameterError",
    "SignalAlignmentError",
    "InsufficientDataError",
    "NotFoundError",
    "UnknownSymbolError",
    "UnknownSeriesError",
    "UnknownModelTypeError",
    "ModelNotFoundError",
    "JobNotFoundError",
    "DataError",
    "DataSourceError",
    "DataValidationError",
    "NotFittedError",
    "ArtifactIntegrityError",
    "RegistryError",
    "ServingError",
    "EnsembleError",
    "ComplianceError",
    "ComplianceBlockedError",
    "AuditError",
    "JobError",
]


class MLTrainerError(Exception):
    """Base of every error mlTrainer raises on purpose. ``str(e)`` is safe to show to a user."""


class ConfigError(MLTrainerError):
    """A setting or environment variable is invalid."""


class InvalidInputError(MLTrainerError, ValueError):
    """A value given by the user is invalid."""


class InvalidParameterError(InvalidInputError):
    """A model or backtest parameter is unknown or out of range."""


class SignalAlignmentError(InvalidInputError):
    """A signal's index does not match the bars it is meant to trade."""


class InsufficientDataError(InvalidInputError):
    """Too little history for what was requested (warm-up, folds, horizon)."""


class NotFoundError(MLTrainerError, LookupError):
    """Something the user named does not exist."""


class UnknownSymbolError(NotFoundError):
    """The symbol is not offered by the data source."""


class UnknownSeriesError(NotFoundError):
    """The macro series is not offered by the data source."""


class UnknownModelTypeError(NotFoundError):
    """The model type is not one of ``mltrainer.models.MODEL_TYPES``."""


class ModelNotFoundError(NotFoundError):
    """No trained model with that id in the registry."""


class JobNotFoundError(NotFoundError):
    """No background job with that id."""


class DataError(MLTrainerError):
    """Market or macro data could not be obtained or is unusable."""


class DataSourceError(DataError):
    """The data provider failed: missing/invalid key, network error, timeout, malformed response."""


class DataValidationError(DataError):
    """Bars failed validation. ``problems`` is a list of ``(date, reason)`` pairs."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class NotFittedError(MLTrainerError, ValueError, AttributeError):
    """``predict`` was called before ``fit``.

    Like scikit-learn's ``NotFittedError`` it is both a ``ValueError`` and an ``AttributeError``;
    it does not inherit from it so that importing the error tree does not import scikit-learn.
    """


class ArtifactIntegrityError(MLTrainerError):
    """A model artifact is missing, unsigned, or does not match its signature. It was not loaded."""


class RegistryError(MLTrainerError):
    """The model registry / metadata database could not complete the operation."""


class ServingError(MLTrainerError):
    """A prediction could not be produced."""


class EnsembleError(ServingError, InvalidInputError):
    """An ensemble request is invalid, or every member failed."""


class ComplianceError(MLTrainerError):
    """The compliance machinery could not complete the operation."""


class ComplianceBlockedError(ComplianceError):
    """Code was blocked by violations without an active override. ``violations`` lists them."""

    def __init__(self, message: str, violations: list | None = None):
        super().__init__(message)
        self.violations = list(violations or [])


class AuditError(MLTrainerError):
    """The audit trail could not be written or read."""


class JobError(MLTrainerError):
    """A background job could not be submitted or failed."""
