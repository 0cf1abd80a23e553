"""True positives: data from unapproved sources."""
import httpx
import requests
import yfinance as yf


def fetch():
    prices = yf.download("AAPL")
    quote = requests.get("https://query1.finance.yahoo.com/v8/finance/chart/AAPL", timeout=5)
    client = httpx.Client(base_url="https://www.alphavantage.co")
    return prices, quote, client
