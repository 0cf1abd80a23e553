"""True positives: credentials written into code."""
import os

POLYGON_API_KEY = "pk8Xq2LmZ7vR4tW9yB3nC6dF"
settings = {"api_token": "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"}
client_secret = "9f8e7d6c5b4a3928171605f4e3d2c1b0"
# A known key prefix outweighs "test" in the value: Stripe test-mode keys are real credentials.
STRIPE_SECRET = "sk_test_51HqLyjWDarjtT1zdp7dcXa9Rf"
os.environ["POLYGON_API_KEY"] = "Zq8Lr2vN5tK9wX3bM7cJ4pH6"
os.environ.setdefault("FRED_API_KEY", "9d3f0a7c6b1e4d2f8a5c3b7e1d9f4a6c")


def connect(factory):
    return factory(password="Tr0ub4dor&3xK9!zQ")


def fetch_bars(symbol, api_key="Zq8Lr2vN5tK9wX3bM7cJ4pH6"):
    return symbol, api_key


def fetch_series(series_id, *, fred_token="Wm4Tq9Zr2Lx7Vb5Nc8Kd3Hf", timeout=5):
    return series_id, fred_token, timeout
