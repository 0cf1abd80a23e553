"""Negatives: safe loaders and literal evaluation."""
import ast
import json
import pickle

import yaml


def load(text):
    config = yaml.load(text, Loader=yaml.SafeLoader)
    other = yaml.safe_load(text)
    literal = ast.literal_eval(text)
    constant = eval("1 + 1")
    return config, other, literal, constant, json.loads(text)


def copy_model(model):
    return pickle.loads(pickle.dumps(model))
