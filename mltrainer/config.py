"""Settings: one object, read from (highest priority first) explicit arguments, environment variables,
a ``.env`` file in the working directory, then the defaults below.

Environment variables use the ``MLTRAINER_`` prefix (``MLTRAINER_HOME``, ``MLTRAINER_DATA_SOURCE`` …);
the provider keys keep the names the providers document: ``POLYGON_API_KEY`` and ``FRED_API_KEY``.
Secrets are ``SecretStr``: they never appear in ``repr``, logs or error messages.

``MLTRAINER_ENV_FILE`` names the ``.env`` file to read (default ``.env``; empty: none — the test suite
sets it empty so a developer's ``.env`` can never switch on provider keys inside tests).

Every file the product writes lives under ``home``; the path properties below are the only place
file locations are derived from it.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mltrainer.errors import ConfigError

__all__ = ["Settings", "get_settings"]

POLYGON_DEFAULT_BASE_URL = "https://api.polygon.io"
FRED_DEFAULT_BASE_URL = "https://api.stlouisfed.org/fred"
_WHOLE_NUMBER = re.compile(r"\+?[0-9]+")


def _default_bulk_processes() -> int:
    cores = os.cpu_count() or 1
    return cores if cores >= 2 else 0


class Settings(BaseSettings):
    """mlTrainer settings. Construct with keyword arguments to override the environment."""

    model_config = SettingsConfigDict(
        env_prefix="MLTRAINER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    home: Path = Field(default=Path("~/.mltrainer"), description="Root of every file mlTrainer writes.")
    data_source: Literal["offline", "polygon"] = Field(
        default="offline", description="Where market bars come from: 'offline' (shipped real data) or 'polygon'."
    )
    polygon_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("POLYGON_API_KEY", "MLTRAINER_POLYGON_API_KEY", "polygon_api_key")
    )
    fred_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FRED_API_KEY", "MLTRAINER_FRED_API_KEY", "fred_api_key")
    )
    polygon_base_url: str = Field(default=POLYGON_DEFAULT_BASE_URL, description="Polygon REST endpoint.")
    fred_base_url: str = Field(default=FRED_DEFAULT_BASE_URL, description="FRED API endpoint (root_url).")
    http_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of one provider request.")
    http_max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx from a provider.")
    signing_key: SecretStr | None = Field(
        default=None, description="HMAC key for model artifacts; generated into home/signing.key when unset."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the metadata database; SQLite under home when unset."
    )
    max_loaded_models: int = Field(default=16, ge=1, description="Models kept in memory by the prediction service.")
    prediction_ttl_seconds: int = Field(default=300, ge=0, description="Prediction cache time-to-live.")
    api_tokens: SecretStr | None = Field(
        default=None, description="Comma-separated bearer tokens accepted by the REST API."
    )
    redis_url: str | None = Field(default=None, description="Redis URL of the shared prediction cache.")
    celery_broker_url: str | None = Field(default=None, description="Celery broker URL for training jobs.")
    celery_key_prefix: str | None = Field(
        default=None, description="Prefix of every Celery broker key (kombu's global_keyprefix), so several "
        "deployments or test runs can share one Redis; unset: no prefix.",
    )
    local_workers: int | None = Field(
        default=None, description="Processes in the local job pool; unset: one per spare CPU core (1 to 4).",
    )
    bulk_processes: int = Field(
        default_factory=lambda: _default_bulk_processes(), ge=0,
        description="Worker processes computing the uncached part of large bulk prediction requests; 0: "
        "threads only. Default: one per CPU core when there are at least 2, else 0.",
    )
    bulk_process_min_symbols: int = Field(
        default=100, ge=1,
        description="Uncached symbols from which a bulk request uses the worker processes.",
    )

    def __init__(self, **values: Any) -> None:
        if "_env_file" not in values:
            values["_env_file"] = os.environ.get("MLTRAINER_ENV_FILE", ".env") or None
        super().__init__(**values)

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: object) -> Path:
        if value is None or str(value).strip() == "":
            raise ConfigError("MLTRAINER_HOME must not be empty; unset it to use ~/.mltrainer.")
        path = Path(str(value)).expanduser()
        if path.exists() and not path.is_dir():
            raise ConfigError(
                f"MLTRAINER_HOME={path} is a file, not a directory: point it at a directory (it is created if missing)."
            )
        return path

    @field_validator("celery_key_prefix", mode="before")
    @classmethod
    def _check_key_prefix(cls, value: object) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        if any(ch.isspace() or not ch.isprintable() for ch in text):
            raise ConfigError(
                f"MLTRAINER_CELERY_KEY_PREFIX={text!r} contains spaces or control characters: use letters, "
                "digits and punctuation only (e.g. 'mltrainer-prod:'), or unset it for no prefix."
            )
        return text

    @field_validator("local_workers", mode="before")
    @classmethod
    def _check_local_workers(cls, value: object) -> int | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        count: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            count = value
        elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
            count = int(value.strip())
        if count is None or count < 1:
            raise ConfigError(
                f"MLTRAINER_LOCAL_WORKERS must be a whole number >= 1 (processes in the local job pool); "
                f"got {value!r}. Unset it for one per spare CPU core (at most 4)."
            )
        return count

    @field_validator("polygon_base_url", "fred_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    # -- paths: the only place file locations are derived from ``home`` -----------------------------
    @property
    def bars_dir(self) -> Path:
        return self.home / "bars"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def plugins_dir(self) -> Path:
        return self.home / "plugins"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def signing_key_path(self) -> Path:
        return self.home / "signing.key"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'mltrainer.db'}"

    def ensure_home(self) -> Path:
        """Create ``home`` (mode 0700) if needed and return it."""
        try:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(
                f"MLTRAINER_HOME={self.home} is not a writable directory ({exc.strerror or type(exc).__name__}): "
                "point it at a directory you can write to."
            ) from None
        return self.home

    # -- what the UI may show about keys: whether they are set, never their values -------------------
    @property
    def configured_keys(self) -> dict[str, bool]:
        return {
            "POLYGON_API_KEY": bool(self.polygon_api_key and self.polygon_api_key.get_secret_value()),
            "FRED_API_KEY": bool(self.fred_api_key and self.fred_api_key.get_secret_value()),
        }


_ENV_KEYS_OUTSIDE_PREFIX = ("POLYGON_API_KEY", "FRED_API_KEY")
_cache_lock = threading.Lock()
_cached: tuple[tuple, Settings] | None = None


def _environment_key() -> tuple:
    """Everything settings are read from: the relevant environment and the .env file's identity."""
    env = tuple(sorted((k, v) for k, v in os.environ.items()
                       if k.startswith("MLTRAINER_") or k in _ENV_KEYS_OUTSIDE_PREFIX))
    env_file = os.environ.get("MLTRAINER_ENV_FILE", ".env") or None
    stamp = None
    if env_file:
        try:
            st = os.stat(os.path.abspath(env_file))
            stamp = (os.path.abspath(env_file), st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (os.path.abspath(env_file), None, None)
    return env, stamp


def get_settings(**overrides: object) -> Settings:
    """Return the current settings.

    The environment (and ``.env``) is consulted on every call, so a changed variable takes effect at
    once (tests rely on it); the parsed object is reused while nothing it was read from changed, which
    keeps this off the hot path of bulk predictions (building Settings costs ~2 ms). Settings are frozen.
    """
    global _cached
    key = _environment_key() if not overrides else None
    if key is not None:
        with _cache_lock:
            if _cached is not None and _cached[0] == key:
                return _cached[1]
    try:
        settings = Settings(**overrides)
    except ConfigError:
        raise
    except Exception as exc:  # pydantic ValidationError: name the field, never echo secret values
        errors = getattr(exc, "errors", None)
        if callable(errors):
            parts = []
            for err in errors():
                loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
                parts.append(f"{loc}: {err.get('msg', 'invalid value')}")
            raise ConfigError("Invalid mlTrainer setting — " + "; ".join(parts)) from None
        raise
    if key is not None:
        with _cache_lock:
            _cached = (key, settings)
    return settings
