"""Streamlit helpers shared by the pages: the sidebar and error display. Kept out of the pages so
that every page stays a thin view."""

from __future__ import annotations

import streamlit as st

from mltrainer import services
from mltrainer.errors import MLTrainerError

__all__ = ["render_sidebar"]


@st.cache_data(ttl="5m", show_spinner=False)
def _data_status() -> dict:
    return services.data_status()


def render_sidebar() -> None:
    """Active data source with its last bar date, and which API keys are set (never their values)."""
    with st.sidebar:
        st.markdown("### mlTrainer")
        try:
            status = _data_status()
        except MLTrainerError as exc:
            st.error(str(exc))
            return
        st.caption(f"{status['label']} · last bar {status['last_bar']}")
        keys = status.get("keys", {})
        for name, present in keys.items():
            st.caption(f"{'✅' if present else '—'} {name} {'configured' if present else 'not set'}")
