from . import helpers
from .helpers import helper_one


class Engine:
    def run(self):
        return helper_one() + helpers.helper_one()
