"""Settings: shipped defaults, the operator's file, then environment; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import data_path
from monitors.errors import ConfigError
from monitors.feedlist import load_feed_list
from monitors.settings import load_settings


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "defwatch.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_need_no_file() -> None:
    settings = load_settings({})
    assert settings.poll_interval == 900
    assert settings.database_url.startswith("sqlite:///")
    assert settings.feeds_file.name == "feeds.toml"
    assert settings.bot_token is None


def test_file_then_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "[poll]\ninterval_seconds = 120\n[telegram]\nadmin_ids = [42]\n")
    settings = load_settings({"DEFWATCH_CONFIG": path})
    assert (settings.poll_interval, settings.admin_ids) == (120, frozenset({42}))
    env = {
        "DEFWATCH_CONFIG": path,
        "DEFWATCH_POLL_INTERVAL": "30",
        "DEFWATCH_ALLOW_PRIVATE_FEEDS": "1",
    }
    settings = load_settings(env)
    assert (settings.poll_interval, settings.allow_private_feeds) == (30, True)


def test_token_and_password_stay_out_of_repr() -> None:
    settings = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": "123456:SECRET-TOKEN",
            "DEFWATCH_DATABASE_URL": "postgresql://u:hunter2@h/db",
        }
    )
    assert "SECRET-TOKEN" not in repr(settings)
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[poll\n", "not valid TOML", id="broken toml"),
        pytest.param("[pol]\n", "unknown section [pol]", id="unknown section"),
        pytest.param("[poll]\nintervall = 3\n", "unknown key poll.intervall", id="misspelt key"),
        pytest.param(
            '[poll]\ninterval_seconds = "fast"\n', "poll.interval_seconds", id="wrong type"
        ),
        pytest.param("[poll]\ninterval_seconds = -5\n", "must be positive", id="negative interval"),
        pytest.param(
            '[telegram]\nadmin_ids = ["me"]\n', "telegram.admin_ids", id="admin ids not numbers"
        ),
        pytest.param(
            "[telegram]\nmax_watch_items = true\n", "must not be true/false", id="bool for number"
        ),
    ],
)
def test_bad_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"defwatch\.toml") as info:
        load_settings({"DEFWATCH_CONFIG": path})
    assert message in str(info.value)


@pytest.mark.parametrize(
    "value", [pytest.param("soon", id="not a number"), pytest.param("0", id="zero")]
)
def test_bad_environment_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match="DEFWATCH_POLL_INTERVAL"):
        load_settings({"DEFWATCH_POLL_INTERVAL": value})


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings({"DEFWATCH_CONFIG": str(tmp_path / "nope.toml")})


# ---------------------------------------------------------------------------------------------
# The feeds file ([poll] feeds_file, config/feeds.toml): as strict as the settings file

FEED = '[[feed]]\nurl = "https://example.org/rss"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(FEED + "enabeld = false\n", "feed[0]: unknown key enabeld", id="misspelt key"),
        pytest.param(FEED + "regoin = 'europe'\n", "feed[0]: unknown key regoin", id="unknown key"),
        pytest.param(
            FEED + FEED + "lang = 'en'\n", "feed[1]: unknown key lang", id="second feed named"
        ),
        pytest.param("[feeds]\nurl = 'x'\n", "unknown key feeds", id="unknown table"),
        pytest.param(FEED + 'enabled = "no"\n', "feed[0].enabled has the wrong type", id="type"),
        pytest.param('[[feed]]\nurl = "ftp://x"\n', "feed[0].url must be", id="not http"),
        pytest.param(FEED + 'country = "USA"\n', "feed[0].country must be", id="bad country"),
    ],
)
def test_bad_feeds_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"feeds\.toml") as info:
        load_feed_list(path)
    assert message in str(info.value)


def test_shipped_feeds_file_is_valid() -> None:
    feeds = load_feed_list(data_path("feeds.toml"))
    assert feeds and all(feed.url.startswith("http") for feed in feeds)
    assert any(feed.region for feed in feeds)
