"""Settings: priority, secrets, home validation, and bad settings as one clear error."""

from __future__ import annotations

import pytest

from mltrainer.config import get_settings
from mltrainer.errors import ConfigError


def test_defaults_and_env_override(monkeypatch, mltrainer_home):
    s = get_settings()
    assert s.home == mltrainer_home
    assert s.data_source == "offline"
    assert s.polygon_base_url == "https://api.polygon.io"
    assert s.sqlalchemy_url == f"sqlite:///{mltrainer_home / 'mltrainer.db'}"
    monkeypatch.setenv("MLTRAINER_POLYGON_BASE_URL", "http://127.0.0.1:9/")
    assert get_settings().polygon_base_url == "http://127.0.0.1:9"
    # arguments beat the environment
    assert get_settings(data_source="polygon").data_source == "polygon"


def test_keys_are_secret_and_reported_only_as_present(monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", "pk_live_ABCDEF123456")
    s = get_settings()
    assert s.configured_keys == {"POLYGON_API_KEY": True, "FRED_API_KEY": False}
    assert "pk_live_ABCDEF123456" not in repr(s)
    assert s.polygon_api_key.get_secret_value() == "pk_live_ABCDEF123456"


def test_dotenv_is_read_unless_disabled(tmp_path, monkeypatch):
    env = tmp_path / "custom.env"
    env.write_text("MLTRAINER_DATA_SOURCE=polygon\nFRED_API_KEY=abc\n")
    monkeypatch.setenv("MLTRAINER_ENV_FILE", str(env))
    assert get_settings().data_source == "polygon"
    assert get_settings().configured_keys["FRED_API_KEY"] is True
    monkeypatch.setenv("MLTRAINER_ENV_FILE", "")
    assert get_settings().data_source == "offline"


def test_home_that_is_a_file_is_a_config_error(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("MLTRAINER_HOME", str(afile))
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        get_settings()


def test_invalid_data_source_names_the_setting(monkeypatch):
    monkeypatch.setenv("MLTRAINER_DATA_SOURCE", "yahoo")
    with pytest.raises(ConfigError, match="data_source"):
        get_settings()


def test_unparseable_database_url_is_one_clear_cli_line(monkeypatch, capsys):
    from mltrainer.cli import main

    monkeypatch.setenv("MLTRAINER_DATABASE_URL", "notaurl")
    assert main(["models", "list", "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MLTRAINER_DATABASE_URL" in err[0]


def test_home_file_is_one_clear_cli_line(tmp_path, monkeypatch, capsys):
    from mltrainer.cli import main

    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("MLTRAINER_HOME", str(afile))
    assert main(["models", "list", "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0]


def test_celery_key_prefix_and_local_workers_come_from_settings(monkeypatch):
    from mltrainer.jobs.celery_app import KEY_PREFIX_ENV, _transport_options
    from mltrainer.jobs.local import POOL_SIZE_ENV, local_pool_size

    settings = get_settings()
    assert (settings.celery_key_prefix, settings.local_workers) == (None, None)
    assert _transport_options(settings) == {"visibility_timeout": 6 * 3600}
    assert 1 <= local_pool_size() <= 4  # one per spare core by default
    monkeypatch.setenv(KEY_PREFIX_ENV, " team-a: ")
    monkeypatch.setenv(POOL_SIZE_ENV, "3")
    settings = get_settings()
    assert (settings.celery_key_prefix, settings.local_workers) == ("team-a:", 3)
    assert _transport_options(settings)["global_keyprefix"] == "team-a:"
    assert local_pool_size() == 3
    monkeypatch.setenv(KEY_PREFIX_ENV, "")  # empty: no prefix, as before
    monkeypatch.setenv(POOL_SIZE_ENV, " ")
    assert (get_settings().celery_key_prefix, get_settings().local_workers) == (None, None)


@pytest.mark.parametrize("value", ["0", "-2", "two", "2.5", "++3", "²"])
def test_bad_local_workers_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv("MLTRAINER_LOCAL_WORKERS", value)
    with pytest.raises(ConfigError, match=r"^MLTRAINER_LOCAL_WORKERS must be a whole number >= 1 .*got "):
        get_settings()


@pytest.mark.parametrize("value", ["team a", "team\ta:", "a\x1bb"])
def test_bad_celery_key_prefix_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv("MLTRAINER_CELERY_KEY_PREFIX", value)
    with pytest.raises(ConfigError, match=r"^MLTRAINER_CELERY_KEY_PREFIX=.* contains spaces or control"):
        get_settings()
