"""Data: pick a symbol, see its candlesticks with indicator overlays and where the bars came from."""

import pandas as pd
import streamlit as st

from mltrainer import charts, services, ui
from mltrainer.errors import MLTrainerError

ui.through_router()  # deep links straight after server start


def _init_state(symbols: list[str]) -> None:
    ui.init_state({"data_symbol": symbols[0] if symbols else None, "data_indicators": ["SMA 50", "SMA 200"],
                   "data_years": 3, "data_fetch_ticker": ""})


@st.cache_data(ttl="5m", show_spinner=False)
def _symbols() -> list[dict]:
    return services.describe_symbols()


@st.cache_data(ttl="5m", show_spinner="Loading bars…")
def _window(symbol: str, years: int, indicators: tuple[str, ...]) -> services.PriceWindow:
    # Cleared with _symbols after a Polygon fetch: that is when the bars behind a key change.
    return services.price_window(symbol, years=years, indicators=indicators)


st.title("Market data")
try:
    status = ui.data_status()
    described = _symbols()
except MLTrainerError as exc:
    st.error(str(exc))
    st.stop()

st.caption(f"{status['label']} · last bar {status['last_bar']}")
if not described:
    st.info("No symbols stored for this source yet. With a Polygon key configured, type a ticker below "
            "and press *Fetch from Polygon*.")
symbols = [row["symbol"] for row in described]
_init_state(symbols)

left, mid, right = st.columns([2, 3, 1])
symbol = left.selectbox("Symbol", symbols, key="data_symbol", placeholder="no symbols stored")
indicators = mid.multiselect("Indicator overlays", list(services.INDICATORS), key="data_indicators")
years = right.number_input("Years shown", min_value=1, max_value=30, step=1, key="data_years")

if status["keys"].get("POLYGON_API_KEY"):
    with st.expander("Fetch / refresh from Polygon"):
        ticker = st.text_input("Ticker", key="data_fetch_ticker", placeholder="e.g. NVDA")
        if st.button("Fetch from Polygon", key="data_fetch"):
            try:
                fetched = services.load_bars(ticker, source="polygon")
            except MLTrainerError as exc:
                st.error(str(exc))
            else:
                prov = fetched.attrs.get("provenance", {})
                st.success(f"{prov.get('symbol', ticker)}: {prov.get('rows')} bars up to "
                           f"{prov.get('last_bar')} "
                           f"({prov.get('fetched_rows', 0)} newly fetched).")
                _symbols.clear()
                _window.clear()
                ui.data_status.clear()
else:
    st.caption("Set POLYGON_API_KEY (and MLTRAINER_DATA_SOURCE=polygon) to fetch any ticker from Polygon.")

if symbol:
    row = next(r for r in described if r["symbol"] == symbol)
    try:
        window = _window(symbol, int(years), tuple(indicators))
    except MLTrainerError as exc:
        st.error(str(exc))
        st.stop()
    bars = window.bars
    st.plotly_chart(charts.price_chart(bars, overlays=window.overlays, title=f"{symbol} daily bars"),
                    key="data_chart", width="stretch")
    prov = bars.attrs.get("provenance", {})
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Source", prov.get("source", row["source"]), border=True)
    c2.metric("First bar (all history)", row["first"], border=True)
    c3.metric("Last bar", row["last"], border=True)
    c4.metric("Bars (all history)", f"{row['rows']:,}", border=True)
    # Collapsed sections are built only when opened (on_change="rerun"): a first visit sends the
    # chart without the JSON viewer's and the data grid's front-end code competing with it.
    with st.expander("Provenance", key="data_provenance_open", on_change="rerun") as box:
        if box.open:
            st.json(dict(prov), expanded=True)
    with st.expander("Latest bars", key="data_latest_open", on_change="rerun") as box:
        if box.open:
            st.dataframe(bars.tail(20).iloc[::-1], key="data_table")

with st.expander(f"Available symbols ({len(described)})", key="data_symbols_open", on_change="rerun") as box:
    if box.open:
        st.dataframe(pd.DataFrame(described), hide_index=True, key="data_symbols")
