"""A package that re-exports names from its submodules (corpus: tricky negatives)."""

from .core import Engine
from .helpers import *  # noqa: F403

__all__ = ["Engine", "helper_one"]
