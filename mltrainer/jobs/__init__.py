"""Background training jobs and parameter sweeps (placeholder while the backends land)."""
