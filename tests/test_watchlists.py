"""Named watchlists in a TOML file: validation, matching, export round trip, reload."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config import data_path
from monitors.detect.countries import default_gazetteer
from monitors.domain import StoryForAlert
from monitors.errors import ConfigError
from monitors.watchlists import (
    WatchlistRegistry,
    export_watchlist,
    load_watchlists,
    matching_lists,
    parse_watchlists,
)

GAZETTEER = default_gazetteer()


def parse(text: str) -> dict:
    return parse_watchlists(text, source="lists.toml", resolver=GAZETTEER)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[watchlist.a\n", "lists.toml: not valid TOML", id="broken toml"),
        pytest.param(
            '[watchlist.x]\ncountries = ["Atlantis"]\n',
            "watchlist 'x'.countries: Unknown country 'Atlantis'",
            id="unknown country",
        ),
        pytest.param(
            '[watchlist.x]\ncountries = ["Azerbaijn"]\n',
            "Did you mean",
            id="misspelt country suggests",
        ),
        pytest.param(
            '[watchlist.x]\nscope = "all"\n', "watchlist 'x' is empty", id="empty watchlist"
        ),
        pytest.param(
            '[watchlist.x]\nkeywords = ["!!!"]\n',
            "watchlist 'x'.keywords",
            id="keyword without letters",
        ),
        pytest.param(
            '[watchlist.X]\ncountries = ["AZ"]\n[watchlist.x]\ncountries = ["AZ"]\n',
            "defined twice",
            id="duplicate name",
        ),
        pytest.param(
            '[watchlist.x]\ncountries = ["AZ"]\ntargets = ["caucasus"]\n',
            "watchlist 'x'.targets: 'caucasus' is not a chat id",
            id="malformed target",
        ),
        pytest.param(
            '[watchlist.x]\ncountries = ["AZ"]\ntargets = [true]\n',
            "watchlist 'x'.targets",
            id="boolean target",
        ),
        pytest.param(
            '[watchlist.x]\ncountries = ["AZ"]\nscope = "some"\n',
            "watchlist 'x'.scope",
            id="bad scope",
        ),
        pytest.param(
            '[watchlist.x]\ncountries = ["AZ"]\nkeyword = ["a"]\n',
            "unknown key 'keyword'",
            id="misspelt key",
        ),
        pytest.param(
            '[watchlist.x]\ncountries = "AZ"\n',
            "must be a list of strings",
            id="countries not a list",
        ),
        pytest.param(
            '[watchlists.x]\ncountries = ["AZ"]\n',
            "unknown top-level key 'watchlists'",
            id="wrong top-level table",
        ),
        pytest.param(
            '[watchlist."South Caucasus"]\ncountries = ["AZ"]\n', "names are 1-32", id="bad name"
        ),
    ],
)
def test_invalid_files_name_file_list_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert message in str(info.value)
    assert str(info.value).startswith("lists.toml")


def test_shipped_example_is_valid() -> None:
    lists = load_watchlists(data_path("watchlists.example.toml"), resolver=GAZETTEER)
    assert {"caucasus", "central-asia", "turkiye-exports"} <= set(lists)
    assert lists["caucasus"].countries == {"AZ", "AM", "GE"}


def test_targets_split_into_chats_and_channels() -> None:
    [watchlist] = parse(
        '[watchlist.x]\ncountries = ["Азербайджан"]\ntargets = [-1001, "@Caucasus_Defence"]\n'
    ).values()
    assert watchlist.countries == {"AZ"}
    assert (watchlist.chat_targets, watchlist.channel_targets) == ((-1001,), ("@caucasus_defence",))


def story(
    title: str, *, countries: tuple[str, ...] = (), cooperation: bool = True
) -> StoryForAlert:
    return StoryForAlert(
        1, title, "", countries, (), cooperation, None, datetime(2026, 1, 1, tzinfo=UTC)
    )


LISTS = """
[watchlist.caucasus]
countries = ["AZ", "AM"]
exclude = ["parade"]
[watchlist.drones]
keywords = ["Bayraktar TB2"]
scope = "all"
"""


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            story("Azerbaijan and China talk", countries=("AZ", "CN")),
            {"caucasus"},
            id="country takes part",
        ),
        pytest.param(
            story("Baku parade with Turkish troops", countries=("AZ", "TR")),
            set(),
            id="excluded keyword vetoes",
        ),
        pytest.param(
            story("Azerbaijan elections", countries=("AZ",), cooperation=False),
            set(),
            id="scope cooperation needs cooperation",
        ),
        pytest.param(
            story("New BAYRAKTAR tb2 batch crashes", cooperation=False),
            {"drones"},
            id="keyword any case scope all",
        ),
        pytest.param(story("Bayraktar factory opens"), set(), id="partial phrase does not match"),
    ],
)
def test_matching(item: StoryForAlert, expected: set[str]) -> None:
    assert set(matching_lists(item, parse(LISTS))) == expected


def test_export_round_trips_through_the_parser() -> None:
    text = export_watchlist("mine", ["AZ", "CN"], ["s 400", 'say "hi"'], ["parade"], "all")
    [watchlist] = parse(text).values()
    assert watchlist.countries == {"AZ", "CN"} and watchlist.keywords == {"s 400", "say hi"}
    assert watchlist.excludes == {"parade"} and watchlist.scope == "all"


def test_registry_reloads_on_change_and_keeps_last_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "lists.toml"
    path.write_text('[watchlist.a]\ncountries = ["AZ"]\n', encoding="utf-8")
    registry = WatchlistRegistry(path, resolver=GAZETTEER)
    assert set(registry.load()) == {"a"}
    assert registry.reload_if_changed() is False  # untouched

    path.write_text(
        '[watchlist.a]\ncountries = ["AZ"]\n[watchlist.b]\nkeywords = ["S-400"]\n', encoding="utf-8"
    )
    os.utime(path, ns=(10**18, 10**18))
    assert registry.reload_if_changed() is True
    assert set(registry.lists) == {"a", "b"}

    path.write_text('[watchlist.a]\ncountries = ["Atlantis"]\n', encoding="utf-8")
    os.utime(path, ns=(2 * 10**18, 2 * 10**18))
    with caplog.at_level(logging.ERROR):
        assert registry.reload_if_changed() is False
    assert set(registry.lists) == {"a", "b"}  # the last good version keeps running
    assert (
        "Atlantis" in (registry.last_error or "") and "keeping the last good version" in caplog.text
    )
