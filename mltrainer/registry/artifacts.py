"""Signed model artifacts: the ONLY place in mlTrainer that unpickles anything.

A model artifact is a joblib file under ``settings.models_dir``. Loading a pickle runs code, so every
artifact is signed with HMAC-SHA256 over its exact bytes, and :func:`load_artifact` checks that
signature against the one recorded in the registry *before* unpickling. The verified bytes are
unpickled from memory, so the file cannot change between the check and the load.

The key comes from ``MLTRAINER_SIGNING_KEY``; when unset, a random 32-byte key is generated once into
``settings.signing_key_path`` (mode 0600). Losing that file makes every existing artifact unloadable,
which is the safe failure.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import joblib

from mltrainer.config import Settings, get_settings
from mltrainer.errors import ArtifactIntegrityError, ConfigError, RegistryError

__all__ = [
    "signing_key",
    "sign_bytes",
    "serialize",
    "write_staged_artifact",
    "publish_staged",
    "save_artifact",
    "load_artifact",
    "verify_artifact",
]

log = logging.getLogger(__name__)

_KEY_BYTES = 32
_SIGNATURE_HEX_LEN = 64
#: Age after which a staged (unpublished) artifact in ``tmp_dir`` is an orphan of a killed process.
STALE_STAGED_SECONDS = 3600


def signing_key(settings: Settings | None = None) -> bytes:
    """The HMAC key: ``MLTRAINER_SIGNING_KEY`` if set, else the key file (created once, mode 0600)."""
    settings = settings or get_settings()
    if settings.signing_key is not None:
        value = settings.signing_key.get_secret_value()
        if len(value) < 16:
            raise ConfigError(
                "MLTRAINER_SIGNING_KEY is too short: use at least 16 characters (32+ random is best)."
            )
        return value.encode("utf-8")
    return _key_from_file(settings)


def _key_from_file(settings: Settings) -> bytes:
    path = settings.signing_key_path
    if not path.exists():
        settings.ensure_home()
        # Write the complete key to a private temp file, then hard-link it into place: the link either
        # creates the key file with its full content or fails because another process won the race,
        # so nobody can ever read a half-written key.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(_KEY_BYTES).hex().encode("ascii"))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
                log.info("generated a new artifact signing key at %s", path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError, UnicodeDecodeError):
        raise ConfigError(
            f"The signing key file {path} is unreadable or corrupt. Restore it from a backup, or set "
            "MLTRAINER_SIGNING_KEY; artifacts signed with another key will not load."
        ) from None
    if len(key) < 16:
        raise ConfigError(f"The signing key file {path} is too short; restore it from a backup.")
    if path.stat().st_mode & 0o077:
        log.warning("signing key file %s is readable by other users; run: chmod 600 %s", path, path)
    return key


def sign_bytes(data: bytes, settings: Settings | None = None) -> str:
    """HMAC-SHA256 of ``data`` as 64 hex characters."""
    return hmac.new(signing_key(settings), data, hashlib.sha256).hexdigest()


def serialize(obj: Any) -> bytes:
    """The exact bytes of a joblib artifact holding ``obj``."""
    buffer = io.BytesIO()
    try:
        joblib.dump(obj, buffer)
    except Exception as exc:  # pickling errors: unpicklable attribute, class not importable by name
        raise RegistryError(
            f"The trained model could not be saved: it cannot be pickled ({type(exc).__name__}). Model "
            "classes must be defined at module level and hold no open files, locks or connections."
        ) from exc
    return buffer.getvalue()


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) with ``data``, flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _remove_stale_staged(tmp_dir: Path) -> None:
    """Delete staged artifacts left by a process killed mid-registration (SIGKILL skips cleanup).

    A staged file lives for the seconds between serialising and publishing; one older than
    :data:`STALE_STAGED_SECONDS` belongs to no running registration.
    """
    cutoff = time.time() - STALE_STAGED_SECONDS
    for path in tmp_dir.glob("artifact-*.joblib.tmp"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                log.info("removed stale staged artifact %s", path.name)
        except FileNotFoundError:
            pass


def write_staged_artifact(obj: Any, settings: Settings | None = None) -> tuple[Path, str]:
    """Serialise and sign ``obj`` into a fresh temp file under ``settings.tmp_dir``.

    Returns ``(temp_path, signature)``. The temp dir is on the same filesystem as the models dir, so
    publishing it is an atomic link/rename. The caller owns the temp file (publish or delete it).
    """
    settings = settings or get_settings()
    data = serialize(obj)
    signature = sign_bytes(data, settings)
    settings.ensure_home()
    settings.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _remove_stale_staged(settings.tmp_dir)
    tmp = settings.tmp_dir / f"artifact-{uuid.uuid4().hex}.joblib.tmp"
    _write_new_file(tmp, data)
    return tmp, signature


def publish_staged(tmp: Path, final_path: Path) -> None:
    """Move a staged artifact to ``final_path``; never replaces an existing file."""
    final_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # link() fails when the target exists (rename() would silently overwrite it).
    os.link(tmp, final_path)
    tmp.unlink(missing_ok=True)


def save_artifact(obj: Any, final_path: str | Path, settings: Settings | None = None) -> str:
    """Write ``obj`` as a signed artifact at ``final_path`` (which must not exist); return its signature.

    The file appears complete or not at all. Raises ``ArtifactIntegrityError`` if ``final_path`` exists.
    """
    final_path = Path(final_path)
    tmp, signature = write_staged_artifact(obj, settings)
    try:
        publish_staged(tmp, final_path)
    except FileExistsError:
        raise ArtifactIntegrityError(
            f"An artifact already exists at {final_path.name}; artifacts are never overwritten."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return signature


def _read_verified(path: Path, expected_signature: str | None, settings: Settings | None) -> bytes:
    name = path.name
    if not expected_signature or not isinstance(expected_signature, str):
        raise ArtifactIntegrityError(
            f"Artifact {name} has no recorded signature; it was not loaded. Retrain the model."
        )
    expected = expected_signature.strip().lower()
    if len(expected) != _SIGNATURE_HEX_LEN or any(c not in "0123456789abcdef" for c in expected):
        raise ArtifactIntegrityError(
            f"Artifact {name} has a malformed signature; it was not loaded. Retrain the model."
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(
            f"Artifact file {name} is missing; the model cannot be loaded. Retrain it or restore the file."
        ) from None
    except OSError as exc:
        raise ArtifactIntegrityError(
            f"Artifact file {name} is unreadable ({exc.strerror}); it was not loaded."
        ) from None
    actual = sign_bytes(data, settings)
    if not hmac.compare_digest(actual, expected):
        raise ArtifactIntegrityError(
            f"Artifact {name} does not match its signature (tampered, corrupted, swapped, or signed with "
            "another key); it was not loaded. Retrain the model or restore the original file."
        )
    return data


def load_artifact(path: str | Path, expected_signature: str | None, settings: Settings | None = None) -> Any:
    """Verify ``path`` against ``expected_signature``, then unpickle the verified bytes.

    Raises ``ArtifactIntegrityError`` on a missing file, missing/malformed signature, mismatch, or bytes
    that verify but cannot be unpickled (e.g. a library too old for the pickle).
    """
    path = Path(path)
    data = _read_verified(path, expected_signature, settings)
    try:
        return joblib.load(io.BytesIO(data))
    except ModuleNotFoundError as exc:
        if str(exc.name or "").startswith("mltrainer_plugins"):
            hint = "it is a plugin model: load the plugins (they are scanned first), then try again."
        else:
            hint = f"install the module {exc.name!r} it was trained with, or retrain the model."
        raise ArtifactIntegrityError(f"Artifact {path.name} is authentic but needs a module that is not "
                                     f"available; {hint}") from None
    except Exception as exc:
        raise ArtifactIntegrityError(
            f"Artifact {path.name} is authentic but could not be unpickled ({type(exc).__name__}); "
            "it may need the library versions it was trained with. Retrain the model."
        ) from None


def verify_artifact(path: str | Path, expected_signature: str | None,
                    settings: Settings | None = None) -> bool:
    """Whether ``path`` exists and matches ``expected_signature`` (never unpickles)."""
    try:
        _read_verified(Path(path), expected_signature, settings)
    except ArtifactIntegrityError:
        return False
    return True
