"""Tricky negatives for missing-method."""
import dataclasses
from abc import ABC, abstractmethod

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from reexport_pkg import Engine


def make_base():
    return object


class SetInInit:
    label = "x"

    def __init__(self, scorer):
        self.scorer = scorer
        self._cache = {}

    def score(self, x):
        return self.scorer(x), self._cache.get(x), self.helper(), self.total

    def helper(self):
        return self.label

    @property
    def total(self):
        return 1

    describe = helper


class RollingMixin:
    """A mixin: the host class supplies fit/predict."""

    def fit_rolling(self, bars):
        return self.fit(bars).predict(bars)


class Model(RollingMixin, BaseEstimator, ClassifierMixin):
    def fit(self, bars, y=None):
        self.set_params()
        return self

    def predict(self, bars):
        return self.score(bars, [0]), self.get_params(), self.fit_rolling


class Wrapped(LogisticRegression):
    def fit_twice(self, X, y):
        return self.fit(X, y).predict_proba(X), self.decision_function(X)


class Dynamic:
    def __getattr__(self, name):
        return lambda *a: name

    def go(self):
        return self.anything_at_all()


class UnknownBase(make_base()):
    def go(self):
        return self.whatever()


class Template(ABC):
    def run(self):
        return self.step(), self.hook()

    @abstractmethod
    def step(self):
        """Subclasses implement the step."""


class Concrete(Template):
    def step(self):
        return 1

    def hook(self):
        return 2


@dataclasses.dataclass
class Point:
    x: float
    scale: object = None

    def moved(self):
        return self.scale(self.x), dataclasses.replace(self, x=1.0)


class Inherits(Engine):
    def go(self):
        return self.run()


class Outer:
    def method(self):
        def inner(self):
            return self.not_checked_here()

        return inner(object())


@dataclasses.dataclass(frozen=True)
class FrozenWithCallable:
    name: str

    def __post_init__(self):
        object.__setattr__(self, "normaliser", str.lower)

    def key(self):
        return self.normaliser(self.name)
