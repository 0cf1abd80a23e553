"""Signed artifacts: every way of tampering is refused before anything is unpickled."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing as mp
import stat

import joblib
import pytest

from mltrainer.config import get_settings
from mltrainer.errors import ArtifactIntegrityError, ConfigError
from mltrainer.registry import artifacts


class _WritesMarker:
    """Unpickling this object opens (creates) the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _saved(tmp_path, obj=None):
    path = get_settings().models_dir / "m.joblib"
    signature = artifacts.save_artifact({"weights": [1.0, 2.5]} if obj is None else obj, path)
    return path, signature


def test_roundtrip_and_signature_is_hmac_of_exact_bytes(tmp_path):
    path, signature = _saved(tmp_path)
    assert artifacts.load_artifact(path, signature) == {"weights": [1.0, 2.5]}
    key = artifacts.signing_key()
    assert signature == hmac.new(key, path.read_bytes(), hashlib.sha256).hexdigest()
    assert artifacts.verify_artifact(path, signature) is True


def test_key_file_generated_once_with_mode_0600():
    settings = get_settings()
    first = artifacts.signing_key()
    assert len(first) == 32
    assert stat.S_IMODE(settings.signing_key_path.stat().st_mode) == 0o600
    assert artifacts.signing_key() == first


def test_env_key_wins_and_no_key_file_is_written(monkeypatch):
    monkeypatch.setenv("MLTRAINER_SIGNING_KEY", "correct horse battery staple 42")
    assert artifacts.signing_key() == b"correct horse battery staple 42"
    assert not get_settings().signing_key_path.exists()
    monkeypatch.setenv("MLTRAINER_SIGNING_KEY", "short")
    with pytest.raises(ConfigError, match="too short"):
        artifacts.signing_key()


def _read_key(barrier, queue):
    barrier.wait()
    queue.put(artifacts.signing_key().hex())


def test_two_processes_creating_the_key_agree():
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_read_key, args=(barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    keys = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert keys[0] == keys[1] == artifacts.signing_key().hex()


def test_artifact_signed_with_other_key_is_refused(tmp_path, monkeypatch):
    path, signature = _saved(tmp_path)
    monkeypatch.setenv("MLTRAINER_SIGNING_KEY", "a different key of enough length")
    with pytest.raises(ArtifactIntegrityError, match="does not match its signature"):
        artifacts.load_artifact(path, signature)


def test_flipped_byte_is_refused(tmp_path):
    path, signature = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="does not match its signature"):
        artifacts.load_artifact(path, signature)
    assert artifacts.verify_artifact(path, signature) is False


def test_truncated_file_is_refused(tmp_path):
    path, signature = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ArtifactIntegrityError):
        artifacts.load_artifact(path, signature)


def test_missing_file_and_missing_or_malformed_signature(tmp_path):
    path, signature = _saved(tmp_path)
    for bad in (None, "", "not-hex" * 9, signature[:-2]):
        with pytest.raises(ArtifactIntegrityError, match="signature"):
            artifacts.load_artifact(path, bad)
    path.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        artifacts.load_artifact(path, signature)
    assert artifacts.verify_artifact(path, signature) is False


def test_planted_code_executing_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned.txt"
    # Control: the payload really runs code once it is trusted (here: signed with the real key).
    control = tmp_path / "control.txt"
    control_path = get_settings().models_dir / "control.joblib"
    control_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(_WritesMarker(control), control_path)
    artifacts.load_artifact(control_path, artifacts.sign_bytes(control_path.read_bytes())).close()
    assert control.exists()

    path, signature = _saved(tmp_path)
    joblib.dump(_WritesMarker(marker), path)  # attacker replaces the artifact file
    with pytest.raises(ArtifactIntegrityError):
        artifacts.load_artifact(path, signature)
    with pytest.raises(ArtifactIntegrityError):
        artifacts.load_artifact(path, None)
    assert not marker.exists()


def test_save_never_overwrites(tmp_path):
    path, signature = _saved(tmp_path)
    with pytest.raises(ArtifactIntegrityError, match="never overwritten"):
        artifacts.save_artifact({"other": True}, path)
    assert artifacts.load_artifact(path, signature) == {"weights": [1.0, 2.5]}
    assert list(get_settings().tmp_dir.iterdir()) == []


def test_unpicklable_object_is_a_clear_registry_error_and_leaves_no_file():
    import threading

    from mltrainer.errors import RegistryError

    with pytest.raises(RegistryError, match="cannot be pickled"):
        artifacts.save_artifact({"lock": threading.Lock()}, get_settings().models_dir / "x.joblib")
    assert not (get_settings().models_dir / "x.joblib").exists()
    assert not get_settings().tmp_dir.exists() or list(get_settings().tmp_dir.iterdir()) == []


def test_orphaned_staged_files_are_swept_but_fresh_ones_kept():
    import os
    import time

    tmp_dir = get_settings().tmp_dir
    tmp_dir.mkdir(parents=True)
    orphan, fresh = tmp_dir / "artifact-orphan.joblib.tmp", tmp_dir / "artifact-fresh.joblib.tmp"
    orphan.write_bytes(b"left by a killed process")
    fresh.write_bytes(b"another registration in progress")
    old = time.time() - artifacts.STALE_STAGED_SECONDS - 60
    os.utime(orphan, (old, old))
    staged, _ = artifacts.write_staged_artifact({"x": 1})
    assert not orphan.exists() and fresh.exists() and staged.exists()


def test_authentic_artifact_needing_a_missing_module_says_which(monkeypatch):
    import sys
    import types

    package = types.ModuleType("mltrainer_plugins")
    package.__path__ = []
    module = types.ModuleType("mltrainer_plugins.not_loaded")
    module.Cls = type("Cls", (), {"__module__": "mltrainer_plugins.not_loaded"})
    monkeypatch.setitem(sys.modules, "mltrainer_plugins", package)
    monkeypatch.setitem(sys.modules, "mltrainer_plugins.not_loaded", module)
    path, signature = _saved(None, obj={"model": module.Cls()})
    # A new process where that plugin was never loaded:
    monkeypatch.delitem(sys.modules, "mltrainer_plugins.not_loaded")
    monkeypatch.delitem(sys.modules, "mltrainer_plugins")
    with pytest.raises(ArtifactIntegrityError, match="plugin model: load the plugins"):
        artifacts.load_artifact(path, signature)
