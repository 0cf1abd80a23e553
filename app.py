"""mlTrainer dashboard — the router. Run with ``streamlit run app.py``."""

import logging

import streamlit as st

st.set_page_config(page_title="mlTrainer", page_icon="📈", layout="wide")
logging.basicConfig(level=logging.WARNING)

from mltrainer.ui import render_sidebar  # noqa: E402  (after set_page_config)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon="🏠", default=True),
    st.Page("pages/data.py", title="Data", icon="🗂️"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/predictions.py", title="Predictions", icon="📡"),
    st.Page("pages/ensembles.py", title="Ensembles", icon="🧩"),
    st.Page("pages/models.py", title="Models", icon="📚"),
    st.Page("pages/compliance.py", title="Compliance", icon="🛡️"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
