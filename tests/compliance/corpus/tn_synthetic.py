"""Negatives for synthetic-data: seeds passed to estimators and the word random in text are fine."""
import secrets

from sklearn.ensemble import RandomForestClassifier


def build(random_state=0):
    note = "np.random.normal is not called here"
    return RandomForestClassifier(random_state=random_state), secrets.token_hex(8), note


def fake_news_filter(headlines):
    return [h for h in headlines if "fake" not in h]
