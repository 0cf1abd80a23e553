"""The rule catalogue: id, default severity, what each rule protects against, and its options.

Options are plain data so that a reviewer can read every allowance in one place. The only path-keyed
allowance is ``unsafe-deserialization``'s ``allowed_paths``: the signed artifact store
(``mltrainer/registry/artifacts.py``) verifies an HMAC before it deserialises, so it is the single
module allowed to call ``joblib.load``/``pickle.loads``. Paths are matched against the file's path
relative to its source root (the directory that contains the top-level package), so the allowance
holds wherever the tree is checked out and cannot be claimed by a file elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["SEVERITIES", "Rule", "RULES", "severity_rank", "rule_ids"]

#: Severities, most severe first.
SEVERITIES = ("critical", "high", "medium", "low")


def severity_rank(severity: str) -> int:
    """0 for critical … 3 for low (lower is more severe)."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Rule:
    id: str
    default_severity: str
    summary: str
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


def _rule(rule_id: str, severity: str, summary: str, **options: Any) -> Rule:
    return Rule(rule_id, severity, summary, MappingProxyType(options))


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _rule(
            "missing-module", "critical",
            "An import resolves neither to an installed module nor to the scanned tree. Low when "
            "guarded by try/except ImportError (or the fallback in its handler), inside `if "
            "TYPE_CHECKING:`, version/platform-gated, or skipped by pytest.importorskip. In installed "
            "libraries only (site-packages; never our code or plugins): low for an optional extra the "
            "distribution declares or in an adapter module named after the package; medium for a lazy "
            "import (inside a function) of another package, or in a standalone #! script.",
        ),
        _rule(
            "missing-name", "critical",
            "`from m import x` where m exists and provides no x (honours __all__, submodules, "
            "re-exports and star imports; no claim on modules with a module-level __getattr__).",
        ),
        _rule(
            "missing-attribute", "critical",
            "`m.x` on an imported module m that has no x and no submodule x.",
        ),
        _rule(
            "missing-method", "high",
            "`self.x(...)` in a class whose body, methods and resolvable bases define no x. No claim "
            "when a base is unresolvable, the class defines __getattr__, uses an opaque metaclass or "
            "decorator, or is a mixin (name ends with 'Mixin': its host class supplies the methods).",
            mixin_suffixes=("Mixin",),
        ),
        _rule(
            "synthetic-data", "critical",
            "Random or fabricated data in product code: numpy.random, default_rng, the random module, "
            "faker, sklearn.datasets.make_*, and fake/mock/dummy data builders. Low in test folders.",
            test_severity="low",
            builder_prefixes=("make_fake_", "generate_synthetic_", "generate_fake_", "make_synthetic_",
                              "make_dummy_", "generate_dummy_", "generate_random_"),
            builder_names=("mock_data", "dummy_data", "fake_data", "synthetic_data", "make_mock_data",
                           "make_dummy_data", "generate_mock_data"),
        ),
        _rule(
            "unapproved-source", "high",
            "Market or macro data from outside the approved sources (Polygon, FRED, offline data): "
            "data-source packages, HTTP requests and file readers (pandas.read_csv, read_json, ...) "
            "given a literal URL of another host.",
            forbidden_modules=("yfinance", "pandas_datareader", "alpha_vantage", "quandl",
                               "nasdaqdatalink", "investpy", "yahoo_fin", "yahooquery", "tiingo",
                               "iexfinance", "eodhd", "twelvedata", "finnhub", "tvDatafeed",
                               "alpaca_trade_api", "ccxt", "stooq"),
            approved_hosts=("api.polygon.io", "api.stlouisfed.org", "127.0.0.1", "localhost", "::1"),
            # Readers that fetch a URL given as their path: a literal URL of another host is a source.
            url_readers=("pandas.read_", "polars.read_", "polars.scan_", "dask.dataframe.read_",
                         "pyarrow.csv.read_csv", "pyarrow.json.read_json", "pyarrow.parquet.read_table",
                         "numpy.loadtxt", "numpy.genfromtxt"),
            url_reader_keywords=("filepath_or_buffer", "path_or_buf", "path_or_buffer", "io", "path",
                                 "source", "fname", "url"),
        ),
        _rule(
            "unsafe-deserialization", "critical",
            "Deserialising code-executing formats (pickle, joblib, dill, cloudpickle, torch.load, "
            "pandas.read_pickle, yaml.load without SafeLoader, numpy.load(allow_pickle=True)) or "
            "eval/exec of non-literal input, outside the signed artifact store.",
            allowed_paths=("mltrainer/registry/artifacts.py",),
        ),
        _rule(
            "hardcoded-secret", "high",
            "A key/token/secret/password-like name given a key-like string literal: assignments, "
            "subscripts (os.environ[\"...\"] = ...), setdefault/putenv, keyword arguments, dict "
            "entries and parameter defaults.",
            min_length=12,
            min_entropy_bits_per_char=3.0,
            known_prefixes=("sk_live_", "sk_test_", "rk_live_", "pk_live_", "sk-", "ghp_", "gho_",
                            "github_pat_", "glpat-", "xoxb-", "xoxp-", "AKIA", "ASIA", "AIza", "hf_"),
        ),
    )
}


def rule_ids() -> tuple[str, ...]:
    return tuple(RULES)
