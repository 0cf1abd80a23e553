"""In a test folder synthetic data is reported at low severity (tests still should use real data)."""
import numpy as np


def noisy(n):
    return np.random.default_rng(0).normal(size=n)
