"""True positives: data from unapproved sources."""
import httpx
import pandas as pd
import requests
import yfinance as yf
from pandas import read_json


def fetch(symbol):
    prices = yf.download("AAPL")
    quote = requests.get("https://query1.finance.yahoo.com/v8/finance/chart/AAPL", timeout=5)
    client = httpx.Client(base_url="https://www.alphavantage.co")
    stooq = pd.read_csv("https://stooq.com/q/d/l/?s=aapl.us&i=d")
    members = pd.read_html("https://en.wikipedia.org/wiki/List_of_S%26P_500_companies")
    profile = read_json(f"https://financialmodelingprep.com/api/v3/quote/{symbol}")
    bars = pd.read_parquet(path="https://data.nasdaq.com/api/v3/datatables/SHARADAR/SEP.parquet")
    return prices, quote, client, stooq, members, profile, bars
