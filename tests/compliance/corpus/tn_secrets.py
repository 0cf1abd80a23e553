"""Negatives: env lookups, placeholders, env-var names, short or low-entropy values, paths."""
import os

API_KEY = os.environ.get("POLYGON_API_KEY")
KEY_ENV_VAR = "POLYGON_API_KEY"
token = ""
password = "changeme"
api_key = "YOUR_API_KEY_HERE"
sort_key = "date"
secret_name = "polygon-api-key"
fred_api_key = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
signing_key_path = "/var/lib/mltrainer/signing.key"
TEST_TOKEN = "api-test-token-not-a-secret-0123456789"
FIXTURE_KEY = "abcdef0123456789abcdef0123456789"
STRIPE_DOCS_KEY = "sk_test_xxxxxxxxxxxxxxxxxxxxxxxx"
STRIPE_TEMPLATE = "sk_live_<your-key>"
os.environ["POLYGON_API_KEY"] = "<your-key>"
os.environ["FRED_API_KEY"] = os.environ.get("MLTRAINER_FRED_API_KEY", "")
os.environ.setdefault("MLTRAINER_SIGNING_KEY", "changeme")


def connect(api_key=None, *, token=os.environ.get("POLYGON_API_KEY", ""), password="xxx"):
    return api_key, token, password


def load(symbol, signing_key="/var/lib/mltrainer/signing.key", data_path="data/AAPL.csv", secret="changeme"):
    return symbol, signing_key, data_path, secret
