"""Attributes resolved at runtime by a module-level __getattr__ (PEP 562): no claims possible."""


def __getattr__(name):
    return name.upper()
