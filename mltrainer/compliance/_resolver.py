"""Resolve modules, module attributes and class members WITHOUT running the code being judged.

How a name is resolved, in order:

1. Find the module's spec without importing anything: the scanned tree's source roots are searched
   first (``PathFinder`` over those directories), then every finder on ``sys.meta_path`` is asked
   directly, passing the parent package's ``submodule_search_locations`` for dotted names.
   ``importlib.util.find_spec`` is deliberately NOT used: for ``a.b`` it imports ``a``.
2. Parse the module's own source (or its ``.pyi`` stub) with ``ast`` and summarise its top level:
   definitions, assignments, imports, ``__all__``, star imports (chased recursively, depth-limited),
   ``global`` declarations, and whether the module is open-ended (module-level ``__getattr__``,
   ``globals()`` / ``sys.modules[__name__]`` tricks, lazy loaders) — open-ended means "never claim".
3. Compiled modules without source or stub (``.so``, builtins, frozen) are imported as a last
   resort — but only when they are installed libraries outside the scanned tree. Anything inside the
   scanned tree is never imported: without source we simply make no claim.

Every answer is ``True`` (exists), ``False`` (certainly missing) or ``None`` (cannot tell, so no
finding). Summaries are cached per resolver, so scanning a large tree parses each module once.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.machinery
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ModuleSummary", "ClassMembers", "Resolver", "module_name_for_file", "source_root_for"]

log = logging.getLogger(__name__)

_MAX_DEPTH = 8
# Class decorators known not to add or hide attributes that ``self.x`` could refer to.
_TRANSPARENT_DECORATORS = frozenset({
    "dataclass", "total_ordering", "final", "runtime_checkable", "unique", "dataclass_transform",
})
_TRANSPARENT_METACLASSES = frozenset({"ABCMeta", "type"})


@dataclass
class ModuleSummary:
    """What a module's top level provides, read from its source (or found by import for compiled)."""

    name: str
    kind: str  # "source" | "stub" | "compiled" | "namespace" | "opaque"
    origin: str | None
    is_package: bool
    search_locations: list[str]
    in_tree: bool
    names: set[str] = field(default_factory=set)
    all_names: tuple[str, ...] | None = None
    all_dynamic: bool = False
    star_imports: list[str] = field(default_factory=list)
    open_ended: bool = False
    # A module-level ``__getattr__`` that provably serves only these names (else the module is open).
    getattr_names: frozenset[str] = frozenset()
    getattr_defs: list[ast.FunctionDef | None] = field(default_factory=list)
    literal_sets: dict[str, frozenset[str]] = field(default_factory=dict)
    # name -> (module, attribute or None): how each imported name is bound at the top level
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)


@dataclass
class ClassMembers:
    """Members a class provides; ``complete`` is False when we cannot see all of them."""

    names: set[str]
    complete: bool


def module_name_for_file(path: Path) -> tuple[str, Path]:
    """The dotted module name of a file and the source root it is importable from.

    Walks up while the parent directory is a package (has ``__init__.py``); nothing is imported.
    """
    path = path.resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts), directory


def source_root_for(path: Path) -> Path:
    return module_name_for_file(path)[1]


def _literal_strings(node: ast.AST) -> tuple[str, ...] | None:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = []
        for elt in node.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                out.append(elt.value)
            else:
                return None
        return tuple(out)
    return None


def _target_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def resolve_relative(current_module: str, is_package: bool, level: int, module: str | None) -> str | None:
    """Absolute module name of ``from <level dots><module> import ...`` inside ``current_module``."""
    if level == 0:
        return module
    parts = current_module.split(".") if current_module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        if level - 1 > len(parts):
            return None
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    if module:
        return f"{base}.{module}" if base else module
    return base or None


def _is_type_checking(test: ast.AST) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


_DYNAMIC_MARKERS = ("global", "globals(", "vars(", "exec(", "setattr(", "sys.modules", ":=")


def summarise(tree: ast.Module, name: str, is_package: bool, summary: ModuleSummary,
              source: str | bytes | None = None) -> None:
    """Fill ``summary`` from a module's AST: its top-level names, imports, classes, ``__all__``.

    ``source`` (optional) lets us skip the whole-tree walk for dynamic tricks when none can occur.
    """
    names = summary.names

    def visit_block(body: list[ast.stmt]) -> None:
        for stmt in body:
            visit_stmt(stmt)

    def visit_stmt(stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(stmt.name)
            if stmt.name == "__getattr__":
                summary.getattr_defs.append(stmt if isinstance(stmt, ast.FunctionDef) else None)
        elif isinstance(stmt, ast.ClassDef):
            names.add(stmt.name)
            summary.classes[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            literal = _literal_keys(stmt.value)
            for target in stmt.targets:
                bound = _target_names(target)
                names.update(bound)
                if "__getattr__" in bound:
                    summary.getattr_defs.append(None)  # e.g. lazy_loader.attach(): cannot see through
                if isinstance(target, ast.Name) and literal is not None:
                    summary.literal_sets[target.id] = literal
                if isinstance(target, ast.Name) and target.id == "__all__":
                    literal = _literal_strings(stmt.value)
                    if literal is None:
                        summary.all_dynamic = True
                    else:
                        summary.all_names = literal
        elif isinstance(stmt, ast.AnnAssign):
            names.update(_target_names(stmt.target))
        elif isinstance(stmt, ast.AugAssign):
            names.update(_target_names(stmt.target))
            if isinstance(stmt.target, ast.Name) and stmt.target.id == "__all__":
                extra = _literal_strings(stmt.value)
                if extra is None or summary.all_names is None:
                    summary.all_dynamic = True
                else:
                    summary.all_names = summary.all_names + extra
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    names.add(alias.asname)
                    summary.imports[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    names.add(top)
                    summary.imports.setdefault(top, (top, None))
        elif isinstance(stmt, ast.ImportFrom):
            source = resolve_relative(name, is_package, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    if source:
                        summary.star_imports.append(source)
                    else:
                        summary.open_ended = True
                    continue
                bound = alias.asname or alias.name
                names.add(bound)
                if source:
                    summary.imports[bound] = (source, alias.name)
            # ``from . import sub`` inside a package also sets the attribute ``sub`` on it
        elif isinstance(stmt, ast.If):
            visit_block(stmt.body)
            visit_block(stmt.orelse)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            visit_block(stmt.body)
            for handler in stmt.handlers:
                visit_block(handler.body)
            visit_block(stmt.orelse)
            visit_block(stmt.finalbody)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    names.update(_target_names(item.optional_vars))
            visit_block(stmt.body)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            names.update(_target_names(stmt.target))
            visit_block(stmt.body)
            visit_block(stmt.orelse)
        elif isinstance(stmt, ast.While):
            visit_block(stmt.body)
            visit_block(stmt.orelse)
        elif isinstance(stmt, ast.Match):
            summary.open_ended = True
        elif isinstance(stmt, ast.Expr):
            call = stmt.value
            # ``__all__.extend([...])`` / ``__all__.append("x")``
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "__all__"
            ):
                summary.all_dynamic = True

    visit_block(tree.body)
    if source is not None:
        text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        if not any(marker in text for marker in _DYNAMIC_MARKERS):
            _settle_getattr(summary)
            if summary.all_dynamic:
                summary.all_names = None
            return
    own_aliases = {alias for alias, (mod, attr) in summary.imports.items()
                   if (attr is None and mod == name) or (attr is not None and f"{mod}.{attr}" == name)}
    own_aliases.add(name.rpartition(".")[2])  # ``from numpy import dtypes`` inside numpy/dtypes.py
    # ``for name in ["a", "b"]: globals()[name] = ...`` defines exactly those names.
    loop_literals = {node.target.id: set(_literal_keys(node.iter) or ()) for node in ast.walk(tree)
                     if isinstance(node, ast.For) and isinstance(node.target, ast.Name)
                     and _literal_keys(node.iter) is not None}
    # Anything that can create module attributes we cannot see statically makes the module open.
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            names.update(node.names)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif any(_is_namespace_call(child) for child in ast.iter_child_nodes(node)):
            _namespace_use(node, names, loop_literals, summary)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"exec", "setattr"}:
            if node.func.id == "exec":
                summary.open_ended = True
            elif node.func.id == "setattr" and node.args and (
                _mentions_sys_modules(node.args[0])
                or (isinstance(node.args[0], ast.Name) and node.args[0].id in own_aliases)
            ):
                summary.open_ended = True
        elif isinstance(node, ast.Subscript) and _mentions_sys_modules(node):
            summary.open_ended = True
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "__all__"
        ):
            summary.all_dynamic = True  # __all__.append(...) anywhere: the export list is computed
    _settle_getattr(summary)
    if summary.all_dynamic:
        summary.all_names = None


def _literal_keys(node: ast.AST) -> frozenset[str] | None:
    """String members of a literal set/list/tuple, or keys of a literal dict."""
    if isinstance(node, ast.Dict):
        keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        return frozenset(keys) if len(keys) == len(node.keys) else None
    strings = _literal_strings(node)
    return frozenset(strings) if strings is not None else None


def _settle_getattr(summary: ModuleSummary) -> None:
    """A module-level ``__getattr__`` opens the module unless it provably serves a closed set of names."""
    if "__getattr__" not in summary.names:
        return
    if len(summary.getattr_defs) == 1 and summary.getattr_defs[0] is not None and "__getattr__" not in summary.imports:
        closed = _closed_getattr_names(summary.getattr_defs[0], summary.literal_sets)
        if closed is not None:
            summary.getattr_names = frozenset(closed)
            return
    summary.open_ended = True


def _closed_getattr_names(func: ast.FunctionDef, literal_sets: dict[str, frozenset[str]]) -> set[str] | None:
    """Names a PEP 562 ``__getattr__`` can return, when every ``return`` sits under a test like
    ``name == "x"`` / ``name in {...}`` / ``name in LITERAL_SET`` and the function ends by raising
    ``AttributeError`` (numpy's style). ``None`` when that cannot be shown."""
    params = func.args.posonlyargs + func.args.args
    last = func.body[-1] if func.body else None
    if len(params) != 1 or not isinstance(last, ast.Raise) or last_name(last.exc) != "AttributeError":
        return None
    param = params[0].arg
    served: set[str] = set()

    def guard(test: ast.AST) -> set[str] | None:
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
            parts = [guard(v) for v in test.values]
            return None if any(p is None for p in parts) else set().union(*parts)
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return None
        left, op, right = test.left, test.ops[0], test.comparators[0]
        is_param = isinstance(left, ast.Name) and left.id == param
        if isinstance(op, ast.Eq) and is_param and isinstance(right, ast.Constant) and isinstance(right.value, str):
            return {right.value}
        if isinstance(op, ast.In) and is_param:
            found = _literal_keys(right)
            if found is None and isinstance(right, ast.Name):
                found = literal_sets.get(right.id)
            return set(found) if found is not None else None
        return None

    def closed(stmts: list[ast.stmt], guarded: bool) -> bool:
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(stmt, ast.Return):
                if not guarded:
                    return False
            elif isinstance(stmt, ast.If):
                names = guard(stmt.test)
                served.update(names or ())
                if not closed(stmt.body, guarded or names is not None) or not closed(stmt.orelse, guarded):
                    return False
            else:
                blocks = [getattr(stmt, part, []) for part in ("body", "orelse", "finalbody")]
                blocks += [h.body for h in getattr(stmt, "handlers", [])]
                if not all(closed(block, guarded) for block in blocks):
                    return False
        return True

    return served if closed(func.body, False) else None


_NAMESPACE_READS = frozenset({"get", "keys", "items", "values", "copy", "__contains__"})


def _namespace_use(parent: ast.AST, names: set[str], loop_literals: dict[str, set[str]],
                   summary: ModuleSummary) -> None:
    """Classify a ``globals()``/``vars()`` use by its parent: reads are harmless, stores of literal
    keys define those names, anything else (aliasing, ``update``, passing it on) opens the module."""
    if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store):
        key = parent.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
            return
        if isinstance(key, ast.Name) and key.id in loop_literals:
            names.update(loop_literals[key.id])
            return
        summary.open_ended = True
    elif isinstance(parent, ast.Subscript) or (isinstance(parent, ast.Attribute) and parent.attr in _NAMESPACE_READS):
        return
    elif isinstance(parent, ast.Compare):
        return
    else:
        summary.open_ended = True


def _is_namespace_call(node: ast.AST) -> bool:
    """``globals()`` or ``vars()`` (the module namespace when called at module level)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("globals", "vars")
            and not node.args)


def last_name(node: ast.AST | None) -> str | None:
    """The last name of ``x``, ``a.b.x``, ``x(...)`` or ``x[...]`` (``"x"``); None for anything else."""
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _mentions_sys_modules(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr == "modules" and isinstance(sub.value, ast.Name) and (
            sub.value.id == "sys"
        ):
            return True
    return False


class Resolver:
    """Answers "does module M exist / provide X / does class C define m" for one scan."""

    def __init__(self, tree_roots: list[Path] | None = None, scanned_paths: list[Path] | None = None):
        self.tree_roots = [str(p.resolve()) for p in (tree_roots or [])]
        self.scanned = [p.resolve() for p in (scanned_paths or [])]
        self._modules: dict[str, ModuleSummary | None] = {}
        self._imported_dirs: dict[str, set[str] | None] = {}
        self._class_cache: dict[tuple[str, str], ClassMembers | None] = {}
        # Parsed in-tree files, kept until the scanner takes them, so each file is parsed once.
        self._trees: dict[str, ast.Module] = {}

    def take_tree(self, path: Path) -> ast.Module | None:
        """The AST of a scanned file if the resolver already parsed it (handed over once)."""
        return self._trees.pop(str(path.resolve()), None)

    # -- finding modules ----------------------------------------------------------------------------
    def _in_tree(self, origin: str | None) -> bool:
        if not origin:
            return False
        path = Path(origin).resolve()
        return any(path == root or root in path.parents for root in self.scanned)

    def _find_spec(self, fullname: str):
        parent, _, _child = fullname.rpartition(".")
        if parent:
            parent_info = self.module(parent)
            if parent_info is None or not parent_info.is_package:
                return None
            search = parent_info.search_locations
            return self._ask_finders(fullname, search)
        for root in self.tree_roots:
            try:
                spec = importlib.machinery.PathFinder.find_spec(fullname, [root])
            except (ImportError, ValueError, OSError):
                spec = None
            if spec is not None and (spec.origin not in (None, "namespace") or spec.submodule_search_locations):
                if spec.origin is None and not spec.loader:
                    continue  # a bare directory inside the tree is not a package to us
                return spec
        if fullname in sys.builtin_module_names:
            return importlib.machinery.ModuleSpec(fullname, importlib.machinery.BuiltinImporter, origin="built-in")
        return self._ask_finders(fullname, None)

    @staticmethod
    def _ask_finders(fullname: str, path):
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None or getattr(finder, "runs_compliance_scan", False):
                continue
            try:
                spec = find_spec(fullname, path)
            except Exception:  # a third-party finder misbehaving is not the scanned code's fault
                continue
            if spec is not None:
                return spec
        return None

    def module(self, fullname: str) -> ModuleSummary | None:
        """Summary of an importable module, or ``None`` when it does not exist."""
        if fullname in self._modules:
            return self._modules[fullname]
        self._modules[fullname] = None  # guards against cycles while we work
        try:
            spec = self._find_spec(fullname)
        except Exception:
            spec = None
        summary = None if spec is None else self._summarise_spec(fullname, spec)
        if summary is None:
            summary = self._already_loaded(fullname)
        self._modules[fullname] = summary
        return summary

    def _already_loaded(self, fullname: str) -> ModuleSummary | None:
        """Modules that exist only in ``sys.modules`` (``os.path`` is posixpath): installed, not ours."""
        module = sys.modules.get(fullname)
        if module is None:
            return None
        origin = getattr(module, "__file__", None)
        if origin and (self._in_tree(origin) or any(
            Path(origin).resolve().is_relative_to(root) for root in self.tree_roots
        )):
            return None
        return ModuleSummary(fullname, "compiled", origin, hasattr(module, "__path__"),
                             list(getattr(module, "__path__", []) or []), False)

    def add_source_module(self, fullname: str, tree: ast.Module, is_package: bool, source: str) -> ModuleSummary:
        """Register a module known only as text (``scan_source``) so its own classes resolve."""
        summary = ModuleSummary(fullname, "source", None, is_package, [], True)
        summarise(tree, fullname, is_package, summary, source)
        self._modules[fullname] = summary
        return summary

    def exists(self, fullname: str) -> bool:
        return self.module(fullname) is not None

    def _summarise_spec(self, fullname: str, spec) -> ModuleSummary:
        locations = list(spec.submodule_search_locations or [])
        origin = spec.origin if spec.origin not in ("built-in", "frozen", "namespace") else None
        is_package = spec.submodule_search_locations is not None
        in_tree = self._in_tree(origin) or any(self._in_tree(loc) for loc in locations)
        summary = ModuleSummary(fullname, "opaque", origin, is_package, locations, in_tree)
        source_path = None
        if origin and origin.endswith((".py", ".pyi")):
            source_path = Path(origin)
            summary.kind = "stub" if origin.endswith(".pyi") else "source"
        elif origin:
            stub = _stub_for(Path(origin))
            if stub is not None:
                source_path, summary.kind = stub, "stub"
        elif spec.origin == "frozen":
            frozen_source = getattr(getattr(spec, "loader_state", None), "filename", None)
            if frozen_source and Path(frozen_source).is_file():
                source_path, summary.kind = Path(frozen_source), "source"
        elif is_package and not origin:
            summary.kind = "namespace"
            return summary
        if source_path is not None:
            try:
                source = source_path.read_bytes()
                tree = ast.parse(source, filename=str(source_path))
            except (SyntaxError, ValueError, OSError):
                summary.kind = "opaque"
                return summary
            if in_tree:
                self._trees[str(source_path.resolve())] = tree
            summarise(tree, fullname, is_package, summary, source)
            if summary.kind == "stub" and not in_tree and self._imported_dir(fullname) is not None:
                summary.kind = "compiled"  # the real module is authoritative; stubs are often partial
            return summary
        if not in_tree:
            summary.kind = "compiled"
        return summary

    # -- names in modules -----------------------------------------------------------------------------
    def _imported_dir(self, fullname: str) -> set[str] | None:
        """Attribute names of an installed compiled module (imported: no source to read)."""
        if fullname not in self._imported_dirs:
            try:
                module = importlib.import_module(fullname)
                self._imported_dirs[fullname] = set(dir(module)) if not hasattr(module, "__getattr__") else None
            except Exception:
                self._imported_dirs[fullname] = None
        return self._imported_dirs[fullname]

    def submodule_exists(self, module: str, name: str) -> bool:
        info = self.module(module)
        if info is None or not info.is_package:
            return False
        return self.exists(f"{module}.{name}")

    def has_name(self, module: str, name: str, depth: int = 0) -> bool | None:
        """Whether ``module`` provides ``name`` as an attribute: True, False, or None (unknown)."""
        if name.startswith("__") and name.endswith("__"):
            return None
        info = self.module(module)
        if info is None or depth > _MAX_DEPTH:
            return None
        if info.kind == "compiled":
            found = self._imported_dir(module)
            return None if found is None else (name in found or self.submodule_exists(module, name))
        if info.kind in ("opaque",):
            return None
        if name in info.names or name in info.getattr_names or (
            info.all_names is not None and name in info.all_names
        ):
            return True  # a name a module promises in __all__ exists (enum.global_enum, lazy tricks)
        if info.is_package and self.submodule_exists(module, name):
            return True
        if info.kind == "stub" and info.origin and not info.origin.endswith(".pyi"):
            return None  # stub of a compiled module we may not import: stubs are often partial
        unknown = False
        for star in info.star_imports:
            answer = self.exports(star, name, depth + 1)
            if answer:
                return True
            if answer is None:
                unknown = True
        if info.open_ended or unknown:
            return None
        return False

    def exports(self, module: str, name: str, depth: int = 0) -> bool | None:
        """Whether ``from module import *`` binds ``name``."""
        info = self.module(module)
        if info is None or depth > _MAX_DEPTH:
            return None
        if info.all_dynamic:
            return None
        if info.all_names is not None:
            return name in info.all_names
        if name.startswith("_"):
            return False if info.kind in ("source", "stub") and not info.open_ended else None
        return self.has_name(module, name, depth)

    def binding(self, module: str, name: str, depth: int = 0) -> tuple[str, str] | None:
        """Follow re-exports: the (module, name) where ``module.name`` is actually defined."""
        info = self.module(module)
        if info is None or depth > _MAX_DEPTH or info.kind not in ("source", "stub"):
            return None
        if name in info.classes:
            return module, name
        target = info.imports.get(name)
        if target is not None:
            source, attr = target
            if attr is None:
                return None
            if self.exists(f"{source}.{attr}") and attr not in (self.module(source) or info).names:
                return None
            return self.binding(source, attr, depth + 1)
        for star in info.star_imports:
            if self.exports(star, name, depth + 1):
                return self.binding(star, name, depth + 1)
        return None

    # -- classes --------------------------------------------------------------------------------------
    def class_members(self, module: str, name: str, depth: int = 0) -> ClassMembers | None:
        """Members of class ``name`` defined in (or re-exported by) ``module``; None if unresolvable."""
        key = (module, name)
        if key in self._class_cache:
            return self._class_cache[key]
        self._class_cache[key] = None
        result = None
        if module == "builtins" and isinstance(getattr(builtins, name, None), type):
            result = ClassMembers(set(dir(getattr(builtins, name))), True)
        elif depth <= _MAX_DEPTH:
            info = self.module(module)
            if info is not None and info.kind == "compiled":
                result = self._compiled_class(module, name)
            else:
                where = self.binding(module, name)
                if where is not None:
                    owner = self.module(where[0])
                    node = owner.classes.get(where[1]) if owner else None
                    if node is not None:
                        result = self.members_of_classdef(node, where[0], depth + 1)
        self._class_cache[key] = result
        return result

    def _compiled_class(self, module: str, name: str) -> ClassMembers | None:
        if self._imported_dir(module) is None:
            return None
        cls = getattr(sys.modules.get(module), name, None)
        if not isinstance(cls, type) or "__getattr__" in dir(cls) or type(cls) is not type:
            return None
        return ClassMembers(set(dir(cls)), True)

    def members_of_classdef(self, node: ast.ClassDef, module: str, depth: int = 0,
                            local_classes: dict[str, ast.ClassDef] | None = None) -> ClassMembers:
        """Members a ClassDef provides: its body, ``self.x = ...`` in methods, and resolvable bases."""
        names, complete = class_body_names(node)
        if not _decorators_transparent(node):
            complete = False
        for kw in node.keywords:
            if kw.arg == "metaclass" and _last_name(kw.value) not in _TRANSPARENT_METACLASSES:
                complete = False
        info = self.module(module)
        local_classes = local_classes if local_classes is not None else (info.classes if info else {})
        for base in node.bases:
            members = self.resolve_base(base, module, local_classes, depth + 1, node)
            if members is None:
                complete = False
                continue
            names |= members.names
            complete = complete and members.complete
        names |= set(dir(object))
        return ClassMembers(names, complete)

    def resolve_base(self, base: ast.expr, module: str, local_classes: dict[str, ast.ClassDef],
                     depth: int, current: ast.ClassDef | None = None) -> ClassMembers | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(base, ast.Subscript):  # Generic[T], Base[int]
            base = base.value
        if isinstance(base, ast.Name):
            if base.id in ("Generic", "Protocol"):
                return ClassMembers(set(), base.id == "Generic")
            local = local_classes.get(base.id)
            if local is not None and local is not current:
                key = (f"<local:{module}>", f"{base.id}@{local.lineno}")
                if key not in self._class_cache:
                    self._class_cache[key] = None
                    self._class_cache[key] = self.members_of_classdef(local, module, depth + 1, local_classes)
                return self._class_cache[key]
            info = self.module(module)
            bound = info.imports.get(base.id) if info else None
            if bound is not None and bound[1] is not None:
                return self.class_members(bound[0], bound[1], depth + 1)
            if bound is None and hasattr(builtins, base.id) and not (info and base.id in info.names):
                return self.class_members("builtins", base.id, depth + 1)
            return None
        if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
            info = self.module(module)
            bound = info.imports.get(base.value.id) if info else None
            if bound is not None:
                target = bound[0] if bound[1] is None else f"{bound[0]}.{bound[1]}"
                if self.exists(target):
                    return self.class_members(target, base.attr, depth + 1)
        return None


def class_body_names(node: ast.ClassDef) -> tuple[set[str], bool]:
    """Names a class body defines, plus ``self.x``/``cls.x`` assigned in its methods.

    ``complete`` is False when the class can grow attributes we cannot see (``__getattr__``,
    ``setattr(self, ...)``, ``__dict__`` updates).
    """
    names: set[str] = set()
    complete = True

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(stmt.name)
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    names.update(_target_names(target))
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                names.update(_target_names(stmt.target))
            elif isinstance(stmt, ast.Import):
                names.update((a.asname or a.name.split(".")[0]) for a in stmt.names)
            elif isinstance(stmt, ast.ImportFrom):
                names.update((a.asname or a.name) for a in stmt.names)
            elif isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.AsyncFor, ast.AsyncWith)):
                if isinstance(stmt, (ast.For, ast.AsyncFor)):
                    names.update(_target_names(stmt.target))
                visit(stmt.body)
                visit(getattr(stmt, "orelse", []))
            elif isinstance(stmt, ast.Try):
                visit(stmt.body)
                for handler in stmt.handlers:
                    visit(handler.body)
                visit(stmt.orelse)
                visit(stmt.finalbody)

    visit(node.body)
    if names & {"__getattr__", "__getattribute__"}:
        complete = False
    for stmt in node.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = stmt.args.posonlyargs + stmt.args.args
        receiver = args[0].arg if args else None
        restoring = stmt.name == "__setstate__"  # restores attributes that were set elsewhere
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                if isinstance(sub.value, ast.Name) and sub.value.id in {receiver, "self", "cls"}:
                    names.add(sub.attr)
            elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "setattr":
                # A literal name is a member. A computed one (sklearn's ``set_params``/``set_*_request``)
                # re-sets known parameters or adds generated helpers; treating it as "anything may exist"
                # would exempt every estimator, so it is ignored.
                name_arg = sub.args[1] if len(sub.args) > 1 else None
                if isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str):
                    names.add(name_arg.value)
            elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                  and sub.func.attr == "__setattr__"):
                # ``object.__setattr__(self, "x", v)`` (frozen dataclasses), ``super().__setattr__("x", v)``
                for arg in sub.args[:2]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        names.add(arg.value)
                        break
            elif not restoring and _mutates_dict(sub):
                complete = False
    return names, complete


def _mutates_dict(node: ast.AST) -> bool:
    """``x.__dict__.update(...)`` / ``x.__dict__[k] = v`` / ``vars(x).update(...)``."""
    def is_dict(expr: ast.AST) -> bool:
        return (isinstance(expr, ast.Attribute) and expr.attr == "__dict__") or (
            isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "vars"
        )

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
        "update", "setdefault", "__setitem__",
    ):
        return is_dict(node.func.value)
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
        return is_dict(node.value)
    return False


def _last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _last_name(node.func)
    return None


def _decorators_transparent(node: ast.ClassDef) -> bool:
    return all(_last_name(d) in _TRANSPARENT_DECORATORS for d in node.decorator_list)


def _stub_for(origin: Path) -> Path | None:
    """The ``.pyi`` stub shipped next to a compiled module, if any (``foo.cpython-311-x86_64.so``)."""
    stem = origin.name.split(".")[0]
    for candidate in (origin.with_name(stem + ".pyi"), origin.parent / stem / "__init__.pyi"):
        if candidate.is_file():
            return candidate
    return None
