from . import helpers
from . import nonexistent_sub
from .helpers import helper_three
from .missing_module import anything


def use():
    return helpers.helper_one()
