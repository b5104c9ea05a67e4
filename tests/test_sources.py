"""Which state an item speaks for, from the site it was published on (``detect.sources``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitors.detect.data import read_toml
from monitors.detect.sources import SourceRules, default_source_rules, source_state
from monitors.errors import ConfigError


@pytest.mark.parametrize(
    ("address", "state"),
    [
        pytest.param("https://www.af.mil/News/Article/1/", "US", id="us-air-force"),
        pytest.param("https://www.army.mil/rss/static/1.xml", "US", id="us-army-feed"),
        pytest.param("https://www.dvidshub.net/news/500", "US", id="dvids-wire"),
        pytest.param("https://www.royalnavy.mod.uk/news/1", "GB", id="royal-navy"),
        pytest.param("https://function.mil.ru/news_page/1.htm", "RU", id="pattern-mil-ccTLD"),
        pytest.param("https://www.nzdf.mil.nz/news/1", "NZ", id="pattern-deeper-host"),
        pytest.param("https://mod.gov.az/az/rss/", "AZ", id="pattern-mod-gov"),
        pytest.param("https://www.defence.gov.au/news/1", "AU", id="listed-host"),
        pytest.param("https://www.bundeswehr.de/de/aktuelles/1", "DE", id="bundeswehr"),
        pytest.param("www.af.mil", "US", id="bare-host"),
        pytest.param("https://WWW.AF.MIL./x", "US", id="case-and-root-dot"),
        pytest.param("https://www.militarytimes.com/news/1", None, id="defence-outlet-is-no-state"),
        pytest.param("https://www.gov.uk/government/news/1", None, id="whole-government-site"),
        pytest.param("https://www.milan.it/news", None, id="word-starting-with-mil"),
        pytest.param("https://mil.eu/x", None, id="cctld-of-no-state"),
        pytest.param("https://notmil/x", None, id="single-label-host"),
        pytest.param("af-mil-news.rss.xml", None, id="a-file-name"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param("http://[::1", None, id="malformed-url"),
    ],
)
def test_state_of_an_address(address: str | None, state: str | None) -> None:
    assert default_source_rules().state_of(address) == state


@pytest.mark.parametrize(
    ("given", "addresses", "state"),
    [
        pytest.param("gb", ["https://www.af.mil/x"], "GB", id="given-wins-normalised"),
        pytest.param(" ", ["https://www.af.mil/x"], "US", id="blank-given-is-none"),
        pytest.param(
            None, ["https://news.example/rss", "https://mod.gov.az/1"], "AZ", id="first-official"
        ),
        pytest.param(
            None, ["https://www.af.mil/rss", "https://mod.gov.az/1"], "US", id="feed-before-item"
        ),
        pytest.param(None, [None, "https://news.example/1"], None, id="none-official"),
    ],
)
def test_source_state_order(
    given: str | None, addresses: list[str | None], state: str | None
) -> None:
    assert source_state(given, addresses) == state


def test_a_broken_rules_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text('[hosts]\n"mil" = "US"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.toml"):
        SourceRules.from_config(read_toml(path, "official site rules"), {"US"})
