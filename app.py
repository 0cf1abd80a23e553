"""mlTrainer dashboard — the router. Run with ``streamlit run app.py``."""

import logging

import streamlit as st

st.set_page_config(page_title="mlTrainer", page_icon="📈", layout="wide")
logging.basicConfig(level=logging.WARNING)

from mltrainer.ui import render_sidebar  # noqa: E402  (after set_page_config)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon="🏠", default=True),
]

render_sidebar()
st.navigation(PAGES).run()
