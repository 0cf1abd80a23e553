"""Tricky negatives for missing-attribute: set later, guarded, submodules, __getattr__ modules."""
import json

import reexport_pkg
import reexport_pkg.lazy as lazy
import sklearn

json.custom_flag = True


def use():
    flags = [json.custom_flag, lazy.anything_goes, reexport_pkg.sub, sklearn.linear_model]
    if hasattr(json, "maybe_later"):
        flags.append(json.maybe_later())
    try:
        flags.append(json.new_in_a_future_release())
    except AttributeError:
        pass
    return flags
