"""Negatives: approved hosts, local services, local files, non-literal URLs."""
import io

import httpx
import pandas as pd
import requests


def fetch(url, settings):
    polygon = requests.get("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/2020-01-01/2020-02-01", timeout=5)
    fred = httpx.get("https://api.stlouisfed.org/fred/series/observations", params={"series_id": "DGS10"})
    local = requests.get(f"http://127.0.0.1:8000/health?x={url}", timeout=1)
    configured = httpx.Client(base_url=settings.polygon_base_url)
    lookup = {"https://example.org": 1}.get("https://example.org")
    return polygon, fred, local, configured, requests.get(url, timeout=5), lookup


def read_local(url):
    offline = pd.read_csv("data/offline/AAPL.csv", index_col="date", parse_dates=True)
    stored = pd.read_parquet("/var/lib/mltrainer/bars/AAPL.parquet")
    polygon = pd.read_json("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/2020-01-01/2020-02-01")
    served = pd.read_csv("http://localhost:8000/bars/AAPL.csv")
    given = pd.read_csv(url)
    inline = pd.read_csv(io.StringIO("date,close\n2024-01-02,185.64\n"))
    return offline, stored, polygon, served, given, inline
