"""True positives: deserialising code-executing formats, eval of input."""
import pickle

import joblib
import pandas as pd
import yaml


def load(path, text, blob):
    model = pickle.loads(blob)
    other = joblib.load(path)
    config = yaml.load(text)
    frame = pd.read_pickle(path)
    value = eval(text)
    return model, other, config, frame, value
