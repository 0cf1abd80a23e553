"""True positives: imports that resolve nowhere."""
import numpy as np
import quantmagic_alpha_signals
from mltrainer.nonexistent_features import secret_alpha
import os.nonexistent_child


def score(bars):
    return np.mean(bars) + quantmagic_alpha_signals.alpha(bars) + secret_alpha(bars)


def lazy():
    import quantmagic_lazy_helpers
    return quantmagic_lazy_helpers
