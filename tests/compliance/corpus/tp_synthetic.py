"""True positives: fabricated data in product code."""
import random

import numpy as np
from numpy.random import default_rng
from sklearn.datasets import make_regression


def make_fake_bars(n):
    prices = 100 + np.random.normal(0, 1, size=n).cumsum()
    return prices


def noise():
    rng = default_rng(7)
    return rng.normal(), random.random(), make_regression(n_samples=10)
