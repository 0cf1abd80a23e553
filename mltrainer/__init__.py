"""mlTrainer: train trading-signal models on real market data, validate them honestly out of sample,
and serve their signals to a dashboard, a REST API and a CLI.

The package logs through ``logging.getLogger(__name__)`` and never configures handlers; only the
CLI and the Streamlit app do.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mltrainer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

__all__ = ["__version__"]
