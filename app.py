"""mlTrainer dashboard — the router. Run with ``streamlit run app.py``."""

import logging

import streamlit as st

st.set_page_config(page_title="mlTrainer", page_icon="📈", layout="wide")
logging.basicConfig(level=logging.WARNING)

from mltrainer.ui import render_sidebar  # noqa: E402  (after set_page_config)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/candlestick_chart:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/predictions.py", title="Predictions", icon=":material/sensors:"),
    st.Page("pages/ensembles.py", title="Ensembles", icon=":material/hub:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("pages/compliance.py", title="Compliance", icon=":material/verified_user:"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
