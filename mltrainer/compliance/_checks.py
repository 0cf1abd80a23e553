"""The rules, applied to one parsed file. Pure ``ast`` analysis: nothing scanned is imported or run.

:class:`FileChecker` walks a module once, keeping the context every rule needs (enclosing scope,
whether we are under ``try/except ImportError``, ``if TYPE_CHECKING``, inside a function), and emits
:class:`Finding` objects. The scanner turns findings into violations with fingerprints.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mltrainer.compliance._heuristics import (
    SECRET_NAME,
    is_test_path,
    is_type_checking,
    is_version_gate,
    literal_url_prefix,
    looks_like_secret,
    norm,
    optional_extras,
)
from mltrainer.compliance._resolver import (
    Resolver,
    _target_names,
    class_body_names,
    last_name,
    resolve_relative,
)
from mltrainer.compliance.rules import RULES

__all__ = ["Finding", "FileChecker", "is_test_path", "drop_supplied_by_subclasses"]

_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_ATTRIBUTE_ERRORS = frozenset({"AttributeError", "Exception", "BaseException", "ImportError"})
_HTTP_MODULES = ("requests", "httpx", "urllib", "urllib3", "aiohttp", "http.client")
_HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request",
                           "stream", "urlopen", "Request", "fetch", "ws_connect"})
_DESERIALIZERS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "joblib.load",
    "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads", "torch.load",
    "pandas.read_pickle", "shelve.open", "marshal.load", "marshal.loads", "yaml.unsafe_load",
    "yaml.full_load", "yaml.load_all", "jsonpickle.decode", "sklearn.externals.joblib.load",
}
_SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})
@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    line: int
    col: int
    end_line: int
    message: str
    scope: str
    key_text: str
    owner: str | None = None  # missing-method: the class and the member it lacks
    member: str | None = None


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _handler_names(handler: ast.ExceptHandler) -> set[str]:
    if handler.type is None:
        return {"BaseException"}
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {n for t in types if (n := (t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", None)))}


class FileChecker(ast.NodeVisitor):
    """Apply every enabled rule to one module."""

    def __init__(self, tree: ast.Module, source_lines: list[str], module_name: str, is_package: bool,
                 resolver: Resolver, relpath: str, rules: frozenset[str], is_test: bool | None = None):
        self.tree = tree
        self.lines = source_lines
        self.module_name = module_name
        self.is_package = is_package
        self.resolver = resolver
        self.relpath = relpath
        self.rules = rules
        self.is_test = is_test_path(relpath) if is_test is None else is_test
        self.top_package = relpath.split("/")[0].removesuffix(".py") if "/" in relpath else ""
        # ``pkg/compat/cupy/linalg.py`` adapts cupy: it is only imported when cupy is installed.
        self.adapter_for = frozenset(relpath.removesuffix(".py").split("/")[1:])
        # ``#!`` + ``if __name__ == "__main__"``: a developer/build script run in its own environment.
        self.is_script = bool(source_lines and source_lines[0].startswith("#!")) and any(
            isinstance(stmt, ast.If) and "__main__" in _unparse(stmt.test) for stmt in tree.body
        )
        self.findings: list[Finding] = []
        # (class, base names, members it defines): lets the scanner see subclasses in other files.
        self.class_index: list[tuple[str, frozenset[str], frozenset[str]]] = []
        self.scope: list[str] = []
        self.import_guard = 0
        self.attribute_guard = 0
        self.type_checking = 0
        self.function_depth = 0
        self.version_gate = 0
        info = resolver.module(module_name)
        if info is None:
            # Source given as text (not importable from the tree): resolve local bases from it.
            resolver.add_source_module(module_name, tree, is_package, "\n".join(source_lines))
        # Installed third-party libraries legitimately import optional dependencies lazily; our own
        # code and analysts' plugins (never under site-packages) get no such leniency.
        origin = info.origin if info is not None else None
        self.installed_library = bool(origin) and any(
            part in ("site-packages", "dist-packages") for part in Path(origin).parts
        )
        self._collect_bindings()

    # -- helpers --------------------------------------------------------------------------------------
    def _emit(self, rule: str, node: ast.AST, message: str, severity: str | None = None,
              key: ast.AST | str | None = None, owner: str | None = None, member: str | None = None) -> None:
        if rule not in self.rules:
            return
        key_node = node if key is None else key
        key_text = key_node if isinstance(key_node, str) else _unparse(key_node)
        line = getattr(node, "lineno", 1)
        self.findings.append(Finding(
            rule=rule,
            severity=severity or RULES[rule].default_severity,
            line=line,
            col=getattr(node, "col_offset", 0) + 1,
            end_line=(line if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      else getattr(node, "end_lineno", None) or line),  # a def's excerpt is its def line
            message=message,
            scope=".".join(self.scope) or "<module>",
            key_text=" ".join(key_text.split()),
            owner=owner,
            member=member,
        ))

    def _collect_bindings(self) -> None:
        """Which names are module aliases, which are rebound, which module attributes are set later."""
        self.module_aliases: dict[str, str] = {}
        self.qualified: dict[str, str] = {}  # name -> dotted origin (modules and imported objects)
        self.imported_modules: set[str] = set()
        self.rebound: set[str] = set()
        self.attrs_set: set[tuple[str, str]] = set()
        self.importorskip: set[str] = set()
        conflicting: set[str] = set()

        def bind(name: str, target: str, is_module: bool) -> None:
            if name in self.qualified and self.qualified[name] != target:
                conflicting.add(name)
            self.qualified[name] = target
            if is_module:
                self.module_aliases[name] = target

        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    for i in range(1, len(parts) + 1):
                        self.imported_modules.add(".".join(parts[:i]))
                    if alias.asname:
                        bind(alias.asname, alias.name, True)
                    else:
                        bind(parts[0], parts[0], True)
            elif isinstance(node, ast.ImportFrom):
                source = resolve_relative(self.module_name, self.is_package, node.level, node.module)
                if not source:
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    full = f"{source}.{alias.name}"
                    info = self.resolver.module(source)
                    is_module = bool(info and alias.name not in info.names and self.resolver.exists(full))
                    if is_module:
                        self.imported_modules.add(full)
                    bind(alias.asname or alias.name, full, is_module)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                self.rebound.add(node.id)
            elif isinstance(node, ast.arg):
                self.rebound.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.rebound.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
                if isinstance(node.value, ast.Name):
                    self.attrs_set.add((node.value.id, node.attr))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {
                "hasattr", "getattr", "setattr", "delattr",
            }:
                if len(node.args) >= 2 and isinstance(node.args[0], ast.Name):
                    name_arg = node.args[1]
                    if isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str):
                        self.attrs_set.add((node.args[0].id, name_arg.value))
            elif isinstance(node, ast.comprehension):
                self.rebound.update(_target_names(node.target))
            if isinstance(node, ast.Call):
                callee = last_name(node.func)
                first = node.args[0] if node.args else None
                if callee == "importorskip" and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    self.importorskip.add(first.value.split(".")[0])
                elif callee == "reload" and isinstance(first, ast.Name):
                    conflicting.add(first.id)  # a reloaded module may gain attributes we cannot see
        # Names bound to HTTP clients/sessions (``s = requests.Session()``, ``with httpx.Client() as c``).
        self.http_clients: set[str] = set()
        for node in ast.walk(self.tree):
            pairs = []
            if isinstance(node, ast.Assign):
                pairs = [(t, node.value) for t in node.targets]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                pairs = [(i.optional_vars, i.context_expr) for i in node.items if i.optional_vars is not None]
            for target, value in pairs:
                if isinstance(target, ast.Name) and isinstance(value, ast.Call):
                    origin = self.qualname(value.func)
                    if origin and origin.startswith(_HTTP_MODULES):
                        self.http_clients.add(target.id)
        for name in conflicting | self.rebound:
            self.module_aliases.pop(name, None)
        for name in conflicting:
            self.qualified.pop(name, None)

    def qualname(self, node: ast.AST) -> str | None:
        """Dotted origin of an expression like ``np.random.normal`` -> ``numpy.random.normal``."""
        parts = _dotted(node)
        if not parts or parts[0] in self.rebound and parts[0] not in self.module_aliases:
            return None
        head = self.qualified.get(parts[0])
        if head is None:
            return None
        return ".".join([head, *parts[1:]])

    def run(self) -> list[Finding]:
        self.visit(self.tree)
        if "missing-method" in self.rules:
            self._check_methods()
        return self.findings

    # -- context --------------------------------------------------------------------------------------
    def _scoped(self, node, name: str, function: bool) -> None:
        self.scope.append(name)
        self.function_depth += function
        self.generic_visit(node)
        self.function_depth -= function
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_builder_name(node)
        self._check_secret_defaults(node.args)
        # @pytest.mark.skipif(not PY313, ...) and friends gate the body like an ``if``.
        gated = any(is_version_gate(d) for d in node.decorator_list)
        self.version_gate += gated
        self._scoped(node, node.name, True)
        self.version_gate -= gated

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name, False)

    def visit_Try(self, node: ast.Try) -> None:
        caught = set().union(*(_handler_names(h) for h in node.handlers)) if node.handlers else set()
        import_guard = bool(caught & _IMPORT_ERRORS)
        attr_guard = bool(caught & _ATTRIBUTE_ERRORS)
        self.import_guard += import_guard
        self.attribute_guard += attr_guard
        for stmt in node.body:
            self.visit(stmt)
        self.import_guard -= import_guard
        self.attribute_guard -= attr_guard
        # An import in an ``except ImportError`` handler is the fallback of the one that failed.
        self.import_guard += import_guard
        for handler in node.handlers:
            self.visit(handler)
        self.import_guard -= import_guard
        for part in (node.orelse, node.finalbody):
            for stmt in part:
                self.visit(stmt)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        type_checking = is_type_checking(node.test)
        gated = not type_checking and is_version_gate(node.test)
        self.visit(node.test)
        self.type_checking += type_checking
        self.version_gate += gated
        for stmt in node.body:
            self.visit(stmt)
        self.type_checking -= type_checking
        for stmt in node.orelse:
            self.visit(stmt)
        self.version_gate -= gated

    # -- imports: missing-module, missing-name, synthetic-data, unapproved-source ------------------------
    def _import_severity(self, missing_top: str | None) -> str:
        """Severity of an unresolvable import.

        critical by default. low when guarded (except ImportError, or the fallback in its handler),
        type-only, version/platform-gated, or skipped by ``pytest.importorskip`` in the same file.
        Only in an installed library (under site-packages), never in our code or plugins: low for an
        optional extra its distribution declares or inside an adapter module named after the package
        (``compat/cupy/linalg.py``); medium for a lazy import (inside a function) of another package
        or any import in a ``#!`` script with a ``__main__`` guard — the optional-dependency idiom.
        """
        if self.import_guard or self.type_checking or self.version_gate:
            return "low"
        if missing_top in self.importorskip:
            return "low"
        if missing_top and self.installed_library:
            if missing_top in self.adapter_for or norm(missing_top) in optional_extras(self.top_package):
                return "low"
            if (self.function_depth or self.is_script) and missing_top != self.top_package:
                return "medium"
        return "critical"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_source_module(node, alias.name)
            parts = alias.name.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if not self.resolver.exists(name):
                    severity = self._import_severity(parts[0] if i == 1 else None)
                    self._emit("missing-module", node, _missing_module_message(name, self.import_guard),
                               severity, key=f"import {alias.name}")
                    break

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = resolve_relative(self.module_name, self.is_package, node.level, node.module)
        shown = "." * node.level + (node.module or "")
        if source is None:
            if not self.module_name.startswith("<"):
                self._emit("missing-module", node,
                           f"Relative import `from {shown} import ...` goes above the top-level package. "
                           "Use an absolute import or fix the number of dots.",
                           self._import_severity(None), key=f"from {shown}")
            return
        self._check_source_module(node, source)
        if not self.resolver.exists(source):
            top = source.split(".")[0]
            self._emit("missing-module", node, _missing_module_message(source, self.import_guard),
                       self._import_severity(top if node.level == 0 else None), key=f"from {shown}")
            return
        for alias in node.names:
            if alias.name == "*":
                continue
            if self.resolver.has_name(source, alias.name) is False:
                self._emit("missing-name", node, self._missing_name_message(source, alias.name),
                           self._import_severity(None), key=f"from {shown} import {alias.name}")

    def _missing_name_message(self, module: str, name: str) -> str:
        info = self.resolver.module(module)
        candidates = sorted(n for n in (info.names if info else ()) if not n.startswith("_"))
        close = difflib.get_close_matches(name, candidates, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return (f"`{module}` has no name `{name}` (not defined, re-exported or a submodule there), so "
                f"this import fails at runtime.{hint} Import a name that exists or implement `{name}`.")

    def _check_source_module(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if top in RULES["unapproved-source"].options["forbidden_modules"]:
            self._emit("unapproved-source", node,
                       f"`{top}` is not an approved market/macro data source. Load bars with "
                       "mltrainer.data.load_bars (offline or Polygon) and macro series with "
                       "mltrainer.data.load_series (FRED).", key=f"import {top}")
        if top in ("faker", "mimesis"):
            self._emit("synthetic-data", node,
                       f"`{top}` fabricates data. Models must train on real bars from "
                       "mltrainer.data.load_bars; tests use the offline data or hand-checked values.",
                       self._synthetic_severity(), key=f"import {top}")

    # -- calls and attributes ---------------------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load) and not self.attribute_guard and not self.type_checking:
            self._check_module_attribute(node)
        self.generic_visit(node)

    def _check_module_attribute(self, node: ast.Attribute) -> None:
        parts = _dotted(node)
        if not parts or parts[0] not in self.module_aliases:
            return
        module = self.module_aliases[parts[0]]
        for part in parts[1:-1]:
            candidate = f"{module}.{part}"
            if candidate not in self.imported_modules:
                info = self.resolver.module(module)
                bound = info.imports.get(part) if info else None
                if not bound or (bound[1] is None and bound[0] != candidate) or (
                    bound[1] is not None and f"{bound[0]}.{bound[1]}" != candidate
                ) or not self.resolver.exists(candidate):
                    return
            module = candidate
        attr = parts[-1]
        if (parts[0], attr) in self.attrs_set and len(parts) == 2:
            return
        if self.resolver.has_name(module, attr) is False:
            self.emit_missing_attribute(node, module, attr)

    def emit_missing_attribute(self, node: ast.Attribute, module: str, attr: str) -> None:
        severity = "low" if self.version_gate else "critical"
        info = self.resolver.module(module)
        public = sorted(n for n in (info.names if info else ()) if not n.startswith("_"))
        close = difflib.get_close_matches(attr, public, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        self._emit("missing-attribute", node,
                   f"Module `{module}` has no attribute `{attr}`; this raises AttributeError when run.{hint} "
                   "Use a function that exists or implement it.", severity)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualname(node.func)
        if name is not None:
            self._check_synthetic_call(node, name)
            self._check_deserialization(node, name)
        elif isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            if node.func.id not in self.rebound and node.args and not isinstance(node.args[0], ast.Constant):
                self._emit_deserialization(node, f"{node.func.id}() on non-literal input")
        self._check_http(node, name)
        self._check_secret_keywords(node)
        self.generic_visit(node)

    def _synthetic_severity(self) -> str:
        return RULES["synthetic-data"].options["test_severity"] if self.is_test else "critical"

    def _check_synthetic_call(self, node: ast.Call, name: str) -> None:
        what = None
        if name.startswith("numpy.random.") or name == "numpy.random":
            what = f"`{name}` draws random numbers"
        elif name.startswith("random.") and self.resolver.module("random") is not None:
            what = f"`{name}` draws random numbers"
        elif name.startswith(("faker.", "mimesis.")):
            what = f"`{name}` fabricates data"
        elif name.startswith("sklearn.datasets.make_") or name.startswith("sklearn.datasets._samples_generator."):
            what = f"`{name}` generates a synthetic data set"
        elif name.split(".")[-1] in ("default_rng", "RandomState") and name.startswith("numpy"):
            what = f"`{name}` creates a random generator"
        if what:
            self._emit("synthetic-data", node,
                       f"{what}: model inputs and tests must use real market data. Load bars with "
                       "mltrainer.data.load_bars (offline data in tests) or use hand-checked values.",
                       self._synthetic_severity())

    def _check_builder_name(self, node: ast.FunctionDef) -> None:
        options = RULES["synthetic-data"].options
        lower = node.name.lower()
        if lower.startswith(options["builder_prefixes"]) or lower in options["builder_names"]:
            self._emit("synthetic-data", node,
                       f"`{node.name}` builds fake/synthetic data. Remove it and load real bars with "
                       "mltrainer.data.load_bars.", self._synthetic_severity(), key=f"def {node.name}")

    def _emit_deserialization(self, node: ast.Call, what: str) -> None:
        if self.relpath in RULES["unsafe-deserialization"].options["allowed_paths"]:
            return
        self._emit("unsafe-deserialization", node,
                   f"{what} can execute arbitrary code from the data. Store models through the signed "
                   "registry (mltrainer.registry) and exchange data as JSON/Parquet; parse literals with "
                   "ast.literal_eval.")

    def _check_deserialization(self, node: ast.Call, name: str) -> None:
        kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        if name == "yaml.load":
            loader = kwargs.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
            if loader is None or last_name(loader) not in _SAFE_YAML_LOADERS:
                self._emit_deserialization(node, "`yaml.load` without Loader=yaml.SafeLoader")
            return
        if name == "torch.load":
            flag = kwargs.get("weights_only")
            if isinstance(flag, ast.Constant) and flag.value is True:
                return
        if name == "numpy.load":
            flag = kwargs.get("allow_pickle")
            if isinstance(flag, ast.Constant) and flag.value is True:
                self._emit_deserialization(node, "`numpy.load(allow_pickle=True)`")
            return
        if name in _DESERIALIZERS:
            if _is_round_trip(node, name, self.qualname):
                return  # loads(dumps(x)): our own bytes from this process, not outside input
            self._emit_deserialization(node, f"`{name}`")

    def _check_http(self, node: ast.Call, name: str | None) -> None:
        if "unapproved-source" not in self.rules:
            return
        on_client = (
            isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in self.http_clients
            and node.func.attr in _HTTP_METHODS
        )
        options = RULES["unapproved-source"].options
        is_http = bool(name and name.startswith(_HTTP_MODULES)) or on_client
        reader = name if name and name.startswith(options["url_readers"]) else None
        candidates = []
        if (is_http or reader) and node.args:
            candidates.append(node.args[0])
        keywords = options["url_reader_keywords"] if reader else ("url", "base_url")
        candidates += [kw.value for kw in node.keywords if kw.arg in keywords]
        for value in candidates:
            url = literal_url_prefix(value)
            if not url:
                continue
            host = (urlsplit(url).hostname or "").lower()
            if host and host not in options["approved_hosts"]:
                what = f"`{reader}` reads from `{host}`" if reader else f"HTTP request to `{host}`"
                self._emit("unapproved-source", node,
                           f"{what}, which is not an approved data source. Use "
                           "mltrainer.data (Polygon: api.polygon.io, FRED: api.stlouisfed.org) or the "
                           "offline data.")
                return

    # -- secrets ----------------------------------------------------------------------------------------
    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_secret(target, node.value, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._check_secret(node.target, node.value, node)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self._check_secret_value(key.value, value, key)
        self.generic_visit(node)

    def _check_secret_keywords(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg:
                self._check_secret_value(kw.arg, kw.value, kw.value)
        # os.environ.setdefault("KEY", "...") / os.putenv("KEY", "...") set a named value like an assignment.
        if (isinstance(node.func, ast.Attribute) and node.func.attr in ("setdefault", "putenv")
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            self._check_secret_value(node.args[0].value, node.args[1], node)

    def _check_secret_defaults(self, args: ast.arguments) -> None:
        """``def f(api_key="...")`` and keyword-only defaults: a default is a literal in the code."""
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
        pairs += [(arg, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults) if default is not None]
        for arg, default in pairs:
            self._check_secret_value(arg.arg, default, default)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._check_secret_defaults(node.args)
        self.generic_visit(node)

    def _check_secret(self, target: ast.AST, value: ast.AST, node: ast.AST) -> None:
        if isinstance(target, ast.Subscript):  # os.environ["POLYGON_API_KEY"] = "...", config["token"] = ...
            key = target.slice
            name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
        else:
            name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
        if name:
            self._check_secret_value(name, value, node)

    def _check_secret_value(self, name: str, value: ast.AST, node: ast.AST) -> None:
        if "hardcoded-secret" not in self.rules or not SECRET_NAME.search(name):
            return
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            return
        if looks_like_secret(value.value):
            self._emit("hardcoded-secret", node,
                       f"`{name}` is assigned a literal that looks like a real credential. Remove it from "
                       "the code, revoke it, and read it from the environment (e.g. POLYGON_API_KEY via "
                       "mltrainer.config.get_settings()).", key=f"{name} = <secret>")

    # -- missing-method -----------------------------------------------------------------------------------
    def _check_methods(self) -> None:
        local: dict[str, ast.ClassDef] = {}
        duplicates: set[str] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ClassDef):
                if node.name in local:
                    duplicates.add(node.name)
                local[node.name] = node
        for node in local.values():
            self.class_index.append((node.name, frozenset(filter(None, (last_name(b) for b in node.bases))),
                                     frozenset(class_body_names(node)[0])))
        for name in duplicates:
            local.pop(name)
        set_later = {attr for owner, attr in self.attrs_set if owner in local}
        for qual, node in _classes_with_qualnames(self.tree):
            if node.name.endswith(RULES["missing-method"].options["mixin_suffixes"]):
                continue
            if any(last_name(b) == "Protocol" for b in node.bases) or node.name in duplicates:
                continue
            if any(owner == node.name for owner, _ in self.attrs_set):
                continue
            members = self.resolver.members_of_classdef(node, self.module_name, local_classes=local)
            if not members.complete:
                continue
            names = members.names | set_later
            for method in node.body:
                if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if any(last_name(d) in ("staticmethod", "classmethod") for d in method.decorator_list):
                    continue
                args = method.args.posonlyargs + method.args.args
                if not args:
                    continue
                receiver = args[0].arg
                for call in _receiver_calls(method, receiver):
                    attr = call.func.attr
                    if attr in names:
                        continue
                    self.scope = [*qual, method.name]
                    self._emit("missing-method", call,
                               f"`{receiver}.{attr}(...)` calls a method that class `{node.name}` and its "
                               f"bases do not define. Implement `{attr}` on `{node.name}` or call an "
                               "existing method.", owner=node.name, member=attr)
                    self.scope = []


def _classes_with_qualnames(tree: ast.Module):
    def walk(body, prefix):
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                yield [*prefix, stmt.name], stmt
                yield from walk(stmt.body, [*prefix, stmt.name])
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from walk(stmt.body, [*prefix, stmt.name])
            elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                for part in ("body", "orelse", "finalbody"):
                    yield from walk(getattr(stmt, part, []), prefix)
                for handler in getattr(stmt, "handlers", []):
                    yield from walk(handler.body, prefix)

    yield from walk(tree.body, [])


def _receiver_calls(method: ast.FunctionDef, receiver: str):
    """``receiver.x(...)`` calls in a method, not descending into code that rebinds the receiver."""
    stack = list(method.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.ClassDef):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            params = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            if any(a.arg == receiver for a in params):
                continue
        if isinstance(node, ast.Name) and node.id == receiver and isinstance(node.ctx, ast.Store):
            return  # receiver reassigned: give up on this method rather than guess
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == receiver
        ):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _is_round_trip(node: ast.Call, name: str, qualname) -> bool:
    """``pickle.loads(pickle.dumps(obj))`` (a copy / picklability check) reads no outside data."""
    if not name.endswith(".loads") or not node.args or not isinstance(node.args[0], ast.Call):
        return False
    inner = qualname(node.args[0].func)
    return inner == name.removesuffix(".loads") + ".dumps"




def _missing_module_message(name: str, guarded: int) -> str:
    guard = " (guarded by except ImportError, so it only disables a feature)" if guarded else ""
    return (f"Module `{name}` cannot be found: it is neither installed nor in the scanned tree{guard}. "
            "Install the package that provides it, fix the module name, or remove the import.")


def _unparse(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return type(node).__name__


def drop_supplied_by_subclasses(findings: list[Finding],
                                class_index: list[tuple[str, frozenset[str], frozenset[str]]]) -> list[Finding]:
    """Template-method bases across files: drop ``missing-method`` findings for a member that some
    (transitive) subclass anywhere in the scanned tree defines. Matching is by class name, which can
    only remove findings, never add them."""
    children: dict[str, list[tuple[str, frozenset[str]]]] = {}
    for name, bases, members in class_index:
        for base in bases:
            children.setdefault(base, []).append((name, members))
    cache: dict[str, frozenset[str]] = {}

    def supplied(name: str) -> frozenset[str]:
        if name not in cache:
            cache[name] = frozenset()
            found: set[str] = set()
            frontier, seen = [name], {name}
            while frontier:
                for child, members in children.get(frontier.pop(), []):
                    found |= members
                    if child not in seen:
                        seen.add(child)
                        frontier.append(child)
            cache[name] = frozenset(found)
        return cache[name]

    return [f for f in findings if f.rule != "missing-method" or f.member not in supplied(f.owner or "")]
