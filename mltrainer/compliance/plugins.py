"""Plugin models: analysts' model files in ``MLTRAINER_HOME/plugins/`` (or uploaded on the Compliance page).

Each file is scanned BEFORE it is imported, and exactly the scanned bytes are executed (a loader
that serves those bytes, never a cached ``.pyc``), so a file cannot change between check and import.
A critical violation without an active override blocks the file: it is not imported, and
:func:`check_plugin` — which training and serving call for every non-built-in model type — refuses
it, so a blocked plugin can be neither trained nor served. A loaded plugin whose file has changed
since it was loaded is refused too, until it is loaded (and therefore scanned) again.

The model registry loads the plugin folder lazily (:func:`ensure_plugins_loaded`): when a lookup
meets a model type it does not know, once per process and again whenever the folder's files change,
so the CLI and API see plugins without an explicit load. A type defined only by a blocked plugin is
reported with that plugin's violations (:func:`plugin_error_for`) rather than as unknown.

Audit actions: ``plugin.blocked``, ``plugin.load`` (plus the scan's own ``compliance.scan``).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.abc
import importlib.util
import inspect
import logging
import os
import re
import sys
import tempfile
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path

from mltrainer.compliance.report import ScanReport, Violation
from mltrainer.compliance.scanner import record_audit, scan_file_content
from mltrainer.config import get_settings
from mltrainer.errors import (
    ComplianceBlockedError,
    ComplianceError,
    InvalidInputError,
    NotFoundError,
    UnknownModelTypeError,
)

__all__ = [
    "PluginStatus",
    "plugin_files",
    "load_plugins",
    "ensure_plugins_loaded",
    "plugin_error_for",
    "load_plugin",
    "install_plugin",
    "check_plugin",
    "unload_plugins",
    "MAX_PLUGIN_BYTES",
]

log = logging.getLogger(__name__)

#: Largest plugin file accepted (a model file, not a data set).
MAX_PLUGIN_BYTES = 1_000_000
_FILENAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\.py$")
_MODULE_PREFIX = "mltrainer_plugins"
_lock = threading.RLock()
# model_type -> (plugin file, sha256 of the bytes that were scanned and executed)
_loaded: dict[str, tuple[Path, str]] = {}


@dataclass(frozen=True)
class PluginStatus:
    """Outcome of loading one plugin file."""

    path: str
    loaded: bool
    model_types: list[str] = field(default_factory=list)
    blocking_violations: list[Violation] = field(default_factory=list)
    sha256: str = ""
    error: str | None = None


class _FolderLoad:
    """What :func:`load_plugins` last saw and did; guarded by ``_lock``."""

    def __init__(self) -> None:
        self.state: tuple | None = None  # plugin folder path and each file's (name, size, mtime_ns)
        self.statuses: list[PluginStatus] = []
        # True while loading: a plugin that looks up a model type while it is being imported must not
        # start loading the folder again.
        self.loading = False


_folder = _FolderLoad()


class _ScannedSourceLoader(importlib.abc.SourceLoader):
    """Serves the exact bytes that were scanned; no bytecode cache is read or written."""

    def __init__(self, path: Path, source: bytes):
        self._path = str(path)
        self._source = source

    def get_filename(self, fullname: str) -> str:
        return self._path

    def get_data(self, path: str) -> bytes:
        if path == self._path:
            return self._source
        raise OSError(f"{path} is not served by the plugin loader")


def _describe(violations: list[Violation]) -> str:
    return "; ".join(f"{v.rule} at line {v.line}: {v.message.rstrip('.')}" for v in violations)


def _blocked_error(name: str, blocking: list[Violation]) -> ComplianceBlockedError:
    return ComplianceBlockedError(
        f"Plugin {name} is blocked by {len(blocking)} critical violation(s) without an active override: "
        f"{_describe(blocking)}. Fix the code, or have a reviewer grant an override per fingerprint "
        "(`python -m mltrainer compliance overrides grant FINGERPRINT --reason ... --expires YYYY-MM-DD "
        "--author ...`).",
        violations=blocking,
    )


def plugin_files() -> list[Path]:
    """Plugin files in the plugin folder, in load order (``_private.py`` and hidden files skipped)."""
    folder = get_settings().plugins_dir
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.py") if p.is_file() and _FILENAME.match(p.name))


def _scan(path: Path, content: bytes, actor: str) -> tuple[ScanReport, list[Violation]]:
    report = scan_file_content(path, content, actor=actor, fail_on="critical")
    return report, report.blocking("critical")


def load_plugin(path: str | Path, actor: str = "system") -> PluginStatus:
    """Scan one plugin file, then import it and register its ``SignalModel`` subclasses.

    Raises ``ComplianceBlockedError`` (listing rule, line and message of each violation) when it has
    critical violations without an active override; ``ComplianceError`` when it fails to import.
    """
    path = Path(path).resolve()
    try:
        content = path.read_bytes()
    except OSError:
        raise NotFoundError(f"Plugin file {path.name} cannot be read: check it exists in the plugin folder.") from None
    digest = hashlib.sha256(content).hexdigest()
    _report, blocking = _scan(path, content, actor)
    if blocking:
        record_audit("plugin.blocked", path.name, {
            "sha256": digest,
            "violations": [{"rule": v.rule, "line": v.line, "fingerprint": v.fingerprint} for v in blocking],
        }, actor)
        raise _blocked_error(path.name, blocking)
    module = _import_scanned(path, content)
    model_types = _register_models(module, path, digest)
    record_audit("plugin.load", path.name, {"sha256": digest, "model_types": model_types}, actor)
    log.info("loaded plugin %s (%s)", path.name, ", ".join(model_types) or "no models")
    return PluginStatus(str(path), True, model_types, [], digest)


class _PluginFinder(importlib.abc.MetaPathFinder):
    """Imports of ``mltrainer_plugins.<name>`` (e.g. unpickling a trained plugin model in a fresh
    process) go through the same scan as :func:`load_plugin`; a blocked file raises ImportError."""

    #: The resolver skips finders that scan (and audit) as a side effect of being asked.
    runs_compliance_scan = True

    def find_spec(self, fullname, path=None, target=None):
        prefix = _MODULE_PREFIX + "."
        if not fullname.startswith(prefix) or "." in fullname[len(prefix):]:
            return None
        file = get_settings().plugins_dir / f"{fullname[len(prefix):]}.py"
        if not _FILENAME.match(file.name) or not file.is_file():
            return None
        content = file.read_bytes()
        _report, blocking = _scan(file.resolve(), content, "system")
        if blocking:
            record_audit("plugin.blocked", file.name, {
                "sha256": hashlib.sha256(content).hexdigest(),
                "violations": [{"rule": v.rule, "line": v.line, "fingerprint": v.fingerprint} for v in blocking],
            }, "system")
            raise ImportError(str(_blocked_error(file.name, blocking)), name=fullname)
        return importlib.util.spec_from_file_location(fullname, file.resolve(),
                                                      loader=_ScannedSourceLoader(file.resolve(), content))


def _ensure_plugin_package() -> types.ModuleType:
    """The parent package of plugin modules, so their classes pickle by reference.

    Its ``__path__`` is empty: no ordinary finder can import a plugin file unscanned; only
    :class:`_PluginFinder` (installed here, once) and :func:`load_plugin` can.
    """
    with _lock:
        package = sys.modules.get(_MODULE_PREFIX)
        if package is None:
            package = types.ModuleType(_MODULE_PREFIX, "Plugin model files, imported only after a compliance scan.")
            package.__path__ = []
            package.__package__ = _MODULE_PREFIX
            sys.modules[_MODULE_PREFIX] = package
        if not any(isinstance(f, _PluginFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _PluginFinder())
    return package


def _import_scanned(path: Path, content: bytes):
    package = _ensure_plugin_package()
    name = f"{_MODULE_PREFIX}.{path.stem}"
    loader = _ScannedSourceLoader(path, content)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise ComplianceError(f"Plugin {path.name} cannot be imported: not a Python source file.")
    module = importlib.util.module_from_spec(spec)
    with _lock:
        previous = sys.modules.get(name)
        sys.modules[name] = module
        try:
            loader.exec_module(module)
        except Exception as exc:  # the analyst's code failed: report it as their input problem
            if previous is not None:
                sys.modules[name] = previous
            else:
                sys.modules.pop(name, None)
            raise ComplianceError(
                f"Plugin {path.name} failed to import ({type(exc).__name__}: {exc}). Fix the file and load it again."
            ) from exc
        setattr(package, path.stem, module)
    return module


def _register_models(module, path: Path, digest: str) -> list[str]:
    from mltrainer.models import SignalModel, register_model_class, unregister_model_class

    registered = []
    for _name, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__ or not issubclass(cls, SignalModel) or inspect.isabstract(cls):
            continue
        model_type = getattr(cls, "model_type", "")
        with _lock:
            if model_type in _loaded and _loaded[model_type][0] == path:
                unregister_model_class(model_type)  # reloading a new version of the same file
            register_model_class(cls)
            _loaded[model_type] = (path, digest)
        registered.append(model_type)
    return registered


def folder_state() -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """``(folder, ((file name, size, mtime_ns), ...))``: changes whenever a plugin file is added,
    removed or edited, or the folder moves."""
    files = []
    for path in plugin_files():
        try:
            stat = path.stat()
        except OSError:  # removed while listing: the next lookup sees the folder without it
            continue
        files.append((path.name, stat.st_size, stat.st_mtime_ns))
    return str(get_settings().plugins_dir), tuple(files)


def load_plugins(actor: str = "system") -> list[PluginStatus]:
    """Load every plugin file. A blocked or broken file does not stop the others; its status says why.

    Use :func:`load_plugin` to get the exception for one file.
    """
    with _lock:
        state = folder_state()
        statuses = []
        _folder.loading = True
        try:
            for path in plugin_files():
                try:
                    statuses.append(load_plugin(path, actor=actor))
                except ComplianceBlockedError as exc:
                    statuses.append(PluginStatus(str(path), False, [], list(exc.violations), error=str(exc)))
                except (ComplianceError, InvalidInputError, NotFoundError) as exc:
                    statuses.append(PluginStatus(str(path), False, error=str(exc)))
        finally:
            _folder.loading = False
        _folder.state, _folder.statuses = state, statuses
    return statuses


def ensure_plugins_loaded(actor: str = "system") -> list[PluginStatus]:
    """The plugin folder's load statuses, loading it first unless it is unchanged since the last load.

    What the model registry calls when it meets an unknown model type: the folder is scanned and
    loaded once per process, and again when a file is added, removed or edited (or the folder moves
    with ``MLTRAINER_HOME``). A call made by a plugin while it is being imported does not reload.
    """
    with _lock:
        if not _folder.loading and folder_state() != _folder.state:
            load_plugins(actor=actor)
        return list(_folder.statuses)


def plugin_error_for(model_type: str) -> ComplianceError | None:
    """Why the plugin defining ``model_type`` did not load (blocked: its violations), or None.

    None when no plugin file in the folder declares ``model_type`` or that file loaded.
    """
    statuses = ensure_plugins_loaded()
    path = _file_for_model_type(str(model_type))
    if path is None:
        return None
    for status in statuses:
        if Path(status.path) != path.resolve() or status.loaded:
            continue
        if status.blocking_violations:
            return ComplianceBlockedError(
                f"Model type {model_type!r} is defined by a blocked plugin. {status.error}",
                violations=status.blocking_violations,
            )
        return ComplianceError(f"Model type {model_type!r} is defined by a plugin that did not load. {status.error}")
    return None


def unload_plugins() -> list[str]:
    """Unregister every plugin model type loaded from files (before reloading, and in tests).

    The next lookup of an unknown model type loads the folder again.
    """
    from mltrainer.models import unregister_model_class

    with _lock:
        types = list(_loaded)
        for model_type in types:
            # Not available_model_types(): that would load the folder again while unloading it.
            with contextlib.suppress(UnknownModelTypeError):  # it may have been unregistered directly
                unregister_model_class(model_type)
            _loaded.pop(model_type)
        _folder.state, _folder.statuses = None, []
    return types


def install_plugin(filename: str, content_bytes: bytes, actor: str = "user") -> PluginStatus:
    """Install an uploaded model file into the plugin folder, then load it.

    The content is scanned before anything is written; a file with blocking violations is refused
    (``ComplianceBlockedError``). The write is atomic (temporary file + rename in the same folder).
    """
    name = Path(str(filename or "")).name
    if name != filename or not _FILENAME.match(name):
        raise InvalidInputError(
            f"Invalid plugin file name {filename!r}: use letters, digits and underscores ending in .py, "
            "e.g. my_model.py (no folders)."
        )
    if not isinstance(content_bytes, (bytes, bytearray)) or not content_bytes:
        raise InvalidInputError(f"Plugin {name} is empty: upload the model's Python source file.")
    if len(content_bytes) > MAX_PLUGIN_BYTES:
        raise InvalidInputError(f"Plugin {name} is larger than {MAX_PLUGIN_BYTES // 1000} kB: upload the model "
                                "code only, not data.")
    folder = get_settings().plugins_dir
    target = folder / name
    content = bytes(content_bytes)
    _report, blocking = _scan(target, content, actor)
    if blocking:
        record_audit("plugin.blocked", name, {
            "sha256": hashlib.sha256(content).hexdigest(),
            "violations": [{"rule": v.rule, "line": v.line, "fingerprint": v.fingerprint} for v in blocking],
        }, actor)
        raise _blocked_error(name, blocking)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return load_plugin(target, actor=actor)


def _file_for_model_type(model_type: str) -> Path | None:
    """The plugin file declaring ``model_type = "<model_type>"`` on a class, found without importing."""
    for path in plugin_files():
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else (
                    [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else [])
                value = getattr(stmt, "value", None)
                if any(isinstance(t, ast.Name) and t.id == "model_type" for t in targets) and (
                    isinstance(value, ast.Constant) and value.value == model_type
                ):
                    return path
    return None


def _source_of_registered(model_type: str) -> Path:
    """The source file of a model class registered in-process (not from the plugin folder)."""
    from mltrainer.models import available_model_types, get_model_class

    if model_type not in available_model_types():
        raise NotFoundError(
            f"No plugin defines model type {model_type!r}: add its file to {get_settings().plugins_dir} "
            "or upload it on the Compliance page."
        )
    try:
        source = inspect.getsourcefile(get_model_class(model_type))
    except TypeError:
        source = None
    if not source:
        raise ComplianceBlockedError(
            f"Model type {model_type} has no Python source file to check, so it is refused. "
            "Provide it as a plugin file."
        )
    return Path(source)


def require_allowed_model_type(model_type: str) -> None:
    """The gate training and serving share: built-in model types are trusted product code; any other
    type is a plugin and must pass :func:`check_plugin` (``ComplianceBlockedError`` otherwise)."""
    from mltrainer.models import MODEL_TYPES

    if model_type not in MODEL_TYPES:
        check_plugin(model_type)


def check_plugin(model_type_or_path: str | Path, actor: str = "system") -> ScanReport:
    """Refuse a blocked plugin: raise ``ComplianceBlockedError`` unless its file passes a fresh scan.

    Accepts a plugin model type (what training and serving pass) or a plugin file path. A loaded
    plugin whose file changed since loading is refused until it is loaded again. Returns the report.
    """
    _ensure_plugin_package()  # a fresh serving process can then unpickle the plugin model, scanned
    text = str(model_type_or_path)
    with _lock:
        loaded = _loaded.get(text)
    if loaded is not None:
        path, digest = loaded
    elif text.endswith(".py"):
        candidate = Path(text)
        path = candidate if candidate.is_absolute() or candidate.exists() else get_settings().plugins_dir / text
        digest = None
    else:
        path = _file_for_model_type(text) or _source_of_registered(text)
        digest = None
    try:
        content = Path(path).read_bytes()
    except OSError:
        raise ComplianceBlockedError(
            f"Plugin file {Path(path).name} for {text} is missing, so the model cannot be checked and is refused. "
            "Restore the file in the plugin folder."
        ) from None
    if digest is not None and hashlib.sha256(content).hexdigest() != digest:
        raise ComplianceBlockedError(
            f"Plugin file {Path(path).name} changed since it was loaded, so the running code is not the "
            "checked code. Load the plugins again (they are re-scanned) before training or serving."
        )
    report, blocking = _scan(Path(path), content, actor)
    if blocking:
        record_audit("plugin.blocked", Path(path).name, {
            "model_type": text,
            "violations": [{"rule": v.rule, "line": v.line, "fingerprint": v.fingerprint} for v in blocking],
        }, actor)
        raise _blocked_error(Path(path).name, blocking)
    return report
