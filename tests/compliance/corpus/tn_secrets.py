"""Negatives: env lookups, placeholders, env-var names, short or low-entropy values."""
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
