"""Plugin models on the dashboard: loaded once per process, blocked files listed with the reason."""

from __future__ import annotations

import os

import pytest

from mltrainer import services, ui
from mltrainer.compliance.plugins import unload_plugins
from mltrainer.config import get_settings
from mltrainer.errors import ComplianceBlockedError

MODEL_TYPE = "dashboard_plugin_test"
CLEAN = f'''"""A plugin model for the dashboard test."""
from mltrainer.models import SignalModel


class DashboardPlugin(SignalModel):
    model_type = "{MODEL_TYPE}"
    label = "Dashboard plugin"

    def _fit(self, bars):
        self.threshold_ = 0.0

    def _predict(self, bars):
        return bars

    @property
    def warmup_bars(self):
        return 0

    @property
    def holding_horizon(self):
        return 1
'''
PLANTED = CLEAN.replace("        return bars\n",
                        "        from mltrainer.features import alpha_that_does_not_exist\n"
                        "        return alpha_that_does_not_exist(bars)\n")


@pytest.fixture(autouse=True)
def _unload():
    yield
    unload_plugins()


def test_blocked_and_clean_plugins_show_in_sidebar_compliance_and_train(router, page):
    folder = get_settings().plugins_dir
    folder.mkdir(parents=True)
    (folder / "blocked_plugin.py").write_text(PLANTED)
    with pytest.raises(ComplianceBlockedError, match="missing-name at line 13"):
        services.install_plugin("other_plugin.py", PLANTED.encode())
    assert not (folder / "other_plugin.py").exists()  # refused before anything was written

    at = router.run()
    assert at.sidebar.caption[-1].value == "Plugins: 0 loaded, 1 blocked"

    status = services.install_plugin("clean_plugin.py", CLEAN.encode())
    assert status.loaded and status.model_types == [MODEL_TYPE]
    ui.plugin_statuses.clear()  # what the page does after an upload
    at = page("compliance").run()
    table = at.dataframe[0].value
    assert list(table["file"]) == ["blocked_plugin.py", "clean_plugin.py"]
    assert list(table["loaded"]) == [False, True]
    assert list(table["model types"]) == ["", MODEL_TYPE]
    assert "alpha_that_does_not_exist" in table["problem"][0]

    at = page("train").run()
    assert "Dashboard plugin" in at.selectbox(key="train_model_type").options  # shown by label


def test_sidebar_follows_plugins_added_and_edited_without_a_restart(router):
    folder = get_settings().plugins_dir
    folder.mkdir(parents=True)
    at = router.run()
    assert not any(c.value.startswith("Plugins:") for c in at.sidebar.caption)

    # No cache clear in between: the folder's file names, sizes and mtimes key the cached statuses.
    (folder / "clean_plugin.py").write_text(CLEAN)
    at.run()
    assert at.sidebar.caption[-1].value == "Plugins: 1 loaded"

    path = folder / "clean_plugin.py"
    path.write_text(PLANTED)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # an edit a second later
    at.run()
    assert at.sidebar.caption[-1].value == "Plugins: 0 loaded, 1 blocked"
