"""True positives: self.x(...) where neither the class nor its bases define x."""
from sklearn.base import BaseEstimator

from reexport_pkg import Engine


class MomentumScaler(BaseEstimator):
    def __init__(self, window=20):
        self.window = window

    def fit(self, bars, y=None):
        self.mean_ = 0.0
        self.validate_bars(bars)
        return self

    def transform(self, bars):
        return self.get_params(), self.compute_zscores(bars)


class TurboEngine(Engine):
    def go(self):
        return self.run(), self.run_faster()
