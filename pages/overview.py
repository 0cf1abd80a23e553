"""Overview: what data is available (full overview arrives with the dashboard issue)."""

import pandas as pd
import streamlit as st

from mltrainer import services
from mltrainer.errors import MLTrainerError

st.title("Overview")
st.subheader("Available market data")
try:
    rows = services.describe_symbols()
except MLTrainerError as exc:
    st.error(str(exc))
else:
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="overview_symbols")
