"""Heuristics the rules share: what looks like a credential, a URL, a version gate, a test file, an
optional extra. Kept apart from the AST walk so each can be read (and tuned) on its own."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import math
import re
from collections import Counter

from mltrainer.compliance.rules import RULES

__all__ = [
    "SECRET_NAME",
    "is_test_path",
    "is_type_checking",
    "is_version_gate",
    "literal_url_prefix",
    "looks_like_secret",
    "optional_extras",
    "norm",
]

# Import names that differ from the distribution that provides them (for optional extras).
DIST_IMPORT_NAMES = {
    "beautifulsoup4": "bs4", "odfpy": "odf", "pytables": "tables", "scikit-learn": "sklearn",
    "pyyaml": "yaml", "pillow": "pil", "python-calamine": "python_calamine", "pyqt5": "pyqt5",
    "python-dateutil": "dateutil", "adbc-driver-postgresql": "adbc_driver_postgresql",
    "adbc-driver-sqlite": "adbc_driver_sqlite", "adbc-driver-manager": "adbc_driver_manager",
}
SECRET_NAME = re.compile(r"(api_?key|apikey|secret|token|passw(or)?d|passwd|pwd|credential|private_?key|"
                         r"access_?key|auth_?key|signing_?key|(^|_)key$)", re.IGNORECASE)
# Values that announce themselves as stand-ins (fixtures, docs) rather than live credentials.
PLACEHOLDER = re.compile(r"(your|xxx|changeme|change_me|example|placeholder|dummy|redacted|replace|insert|"
                         r"fake|not[-_ ]?an?[-_ ]?(real|secret|key)|<|>|\{|\}|\*\*\*|\.\.\.|todo|fixme)",
                         re.IGNORECASE)
# Weaker hints of a fixture value. They never outweigh a known key prefix: "sk_test_" is how every
# Stripe test-mode secret starts, and a random key body can contain "123456" or "abcdef" by chance.
WEAK_PLACEHOLDER = re.compile(r"(test|sample|012345|123456|abcdef)", re.IGNORECASE)


def is_test_path(relpath: str) -> bool:
    """Test folders and files: tests/, test/, test_*.py, *_test.py, conftest.py."""
    parts = relpath.replace("\\", "/").split("/")
    name = parts[-1]
    return (
        any(p in ("tests", "test", "testing") for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def entropy_bits(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


@functools.lru_cache(maxsize=None)
def packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


@functools.lru_cache(maxsize=256)
def optional_extras(top_package: str) -> frozenset[str]:
    """Import names of the optional extras declared by the distribution that ships ``top_package``."""
    names: set[str] = set()
    for dist in packages_distributions().get(top_package, []):
        try:
            requires = importlib.metadata.requires(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" not in req:
                continue
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
            if match:
                dist_name = match.group(1).lower()
                names.add(norm(DIST_IMPORT_NAMES.get(dist_name, dist_name)))
    return frozenset(names)


def is_type_checking(test: ast.AST) -> bool:
    if isinstance(test, ast.BoolOp):
        return any(is_type_checking(v) for v in test.values)
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def is_version_gate(test: ast.AST) -> bool:
    """``if sys.version_info >= ...`` / ``sys.platform`` / compat flags: imports differ by environment."""
    for node in ast.walk(test):
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if name and (name in ("version_info", "platform", "PY_VERSION", "hexversion", "name")
                     or re.match(r"^(PY\d|PYPY|IS_|HAS_|_HAS|np_version|sp_version|pa_version)", name)
                     or re.search(r"(_version|VERSION|_lt|_ge|_gt|_le|IS64|WASM|is_platform)", name)):
            return True
    return False


def literal_url_prefix(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        text = str(node.values[0].value)
    else:
        return None
    return text if text.lower().startswith(("http://", "https://", "ws://", "wss://")) else None


def looks_like_secret(value: str) -> bool:
    options = RULES["hardcoded-secret"].options
    text = value.strip()
    prefix = next((p for p in options["known_prefixes"] if text.startswith(p)), None)
    if prefix is not None and len(text) >= 16 and " " not in text:
        body = text[len(prefix):]
        return not PLACEHOLDER.search(body) and len(set(body)) > 3
    if len(text) < options["min_length"] or any(c.isspace() for c in text):
        return False
    if PLACEHOLDER.search(text) or WEAK_PLACEHOLDER.search(text) or len(set(text)) <= 3:
        return False
    if text.lower().startswith(("http://", "https://", "/", "./", "~")) or re.fullmatch(r"[A-Z][A-Z0-9_]*", text):
        return False  # URLs, paths and environment-variable names are not credentials
    has_digit = any(c.isdigit() for c in text)
    has_alpha = any(c.isalpha() for c in text)
    return has_digit and has_alpha and entropy_bits(text) >= options["min_entropy_bits_per_char"]
