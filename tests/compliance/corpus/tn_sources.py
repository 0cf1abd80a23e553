"""Negatives: approved hosts, local services, non-literal URLs."""
import httpx
import requests


def fetch(url, settings):
    polygon = requests.get("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/2020-01-01/2020-02-01", timeout=5)
    fred = httpx.get("https://api.stlouisfed.org/fred/series/observations", params={"series_id": "DGS10"})
    local = requests.get(f"http://127.0.0.1:8000/health?x={url}", timeout=1)
    configured = httpx.Client(base_url=settings.polygon_base_url)
    lookup = {"https://example.org": 1}.get("https://example.org")
    return polygon, fred, local, configured, requests.get(url, timeout=5), lookup
