"""A PEP 562 __getattr__ that serves a closed set of names (numpy's style): claims stay possible."""

_RENAMED = {"old_helper": "helper"}


def helper():
    return "helper"


def __getattr__(name):
    if name == "legacy_helper" or name in _RENAMED:
        return helper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
