"""One alert per event (issue 8): the same-event rule, the signature, the index, the batch."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitors import textfeatures as tf
from monitors.cluster import (
    COUNTRYLESS_KEY,
    EventSignature,
    StoryIndex,
    best_match,
    candidate_window,
    cluster_rows,
    index_keys,
    merge,
    signature,
)

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def article(
    title: str,
    summary: str = "",
    published: str | None = "2022-09-05",
    countries: tuple[str, ...] = ("AZ", "TR"),
    language: str = "en",
) -> EventSignature:
    return signature(
        title,
        summary,
        published_at=day(published) if published else None,
        language=language,
        countries=countries,
    )


def same_story(first: EventSignature, second: EventSignature) -> bool:
    index = StoryIndex()
    story, _ = index.add("first", first)
    joined, _ = index.add("second", second)
    return joined == story


# ---------------------------------------------------------------------------------------------
# The rule, as a table: (first report, second report, same event?)

QARTALI_2022_EN = article(
    "Turkey, Azerbaijan begin joint air drills",
    "The Turkish and Azerbaijani air forces launched the TurAz Qartalı 2022 joint "
    "flight-tactical exercises in Azerbaijan, the Azerbaijani Defense Ministry said Monday.",
)
GULER_IN_BAKU = article(
    "",
    "Turkish Defence Minister Yasar Guler arrived in Baku on May 3 and met his Azerbaijani "
    "counterpart Zakir Hasanov to discuss military cooperation.",
    published="2024-05-03",
)
F16_SALE = (
    "The US State Department approved a possible $330 million sale of F-16 spare parts to "
    "Taiwan on {date}, the Defense Security Cooperation Agency said."
)

RULE_CASES = [
    pytest.param(
        QARTALI_2022_EN,
        article(
            'Azerbaycan\'da "TurAz Kartalı 2022" tatbikatı başladı',
            "Azerbaycan'da, Türk ve Azerbaycan Hava Kuvvetleri'nin ortak askeri tatbikatı başladı.",
            language="tr",
        ),
        True,
        id="same round reported by two outlets in two languages",
    ),
    pytest.param(
        article(
            "",
            "Chinese and Pakistani air forces began the Shaheen-IX joint exercise at a PAF base.",
            published="2020-12-07",
            countries=("CN", "PK"),
        ),
        article(
            "",
            "Chinese and Pakistani air forces began the Shaheen-X joint exercise at a PAF base.",
            published="2020-12-10",
            countries=("CN", "PK"),
        ),
        False,
        id="another round of the same series stays apart",
    ),
    pytest.param(
        article(
            "",
            "Turkish Defence Minister Yaşar Güler will visit Baku on May 3 for talks with "
            "Azerbaijani Defence Minister Zakir Hasanov, the ministry said.",
            published="2024-05-01",
        ),
        GULER_IN_BAKU,
        True,
        id="announcement and arrival of one visit",
    ),
    pytest.param(
        GULER_IN_BAKU,
        article(
            "",
            "Turkish Defence Minister Yasar Guler arrived in Baku on May 10 and met his "
            "Azerbaijani counterpart Zakir Hasanov to discuss military cooperation.",
            published="2024-05-10",
        ),
        False,
        id="the next visit of the same people to the same place stays apart",
    ),
    pytest.param(
        article(
            "Türkiye, Azerbaijan to hold joint military exercises",
            "The air forces of Azerbaijan and Türkiye will begin the TurAz Qartalı-2022 joint "
            "drill on Monday, the Azerbaijani Defense Ministry said Friday.",
            published="2022-09-02",
        ),
        QARTALI_2022_EN,
        True,
        id="announcement and opening report of one exercise",
    ),
    pytest.param(
        article(
            "",
            "Azerbaijani Defence Minister Zakir Hasanov met Turkish Defence Minister Hulusi "
            "Akar in Ankara on March 3 to discuss military cooperation.",
            published="2023-03-03",
        ),
        article(
            "",
            "Министр обороны Азербайджана Закир Гасанов 3 марта встретился в Анкаре с "
            "министром национальной обороны Турции Хулуси Акаром.",
            published="2023-03-03",
            language="ru",
        ),
        True,
        id="English and Russian reports of one meeting",
    ),
    pytest.param(
        article("", F16_SALE.format(date="June 2"), published="2023-06-02", countries=("US", "TW")),
        article("", F16_SALE.format(date="June 2"), published=None, countries=("US", "TW")),
        True,
        id="verbatim agency copy without a date",
    ),
    pytest.param(
        article("", F16_SALE.format(date="January 10"), "2023-01-10", countries=("US", "TW")),
        article("", F16_SALE.format(date="January 17"), "2023-01-17", countries=("US", "TW")),
        False,
        id="same amount to the same buyer a week later stays apart",
    ),
    pytest.param(
        article("", F16_SALE.format(date="Monday"), "2023-01-09", countries=("US", "TW")),
        article("", F16_SALE.format(date="Friday"), "2023-06-02", countries=("US", "TW")),
        False,
        id="same amount to the same buyer months later stays apart",
    ),
    pytest.param(
        article(
            "India delivers first batch of BrahMos to Philippines",
            "India delivered the first batch of BrahMos missiles to the Philippines on Friday.",
            published="2024-04-19",
            countries=("IN", "PH"),
        ),
        article(
            "",
            "The Philippine ambassador said the BrahMos missiles delivered by India in April "
            "give a significant boost to his country's deterrent capabilities.",
            published="2024-09-12",
            countries=("IN", "PH"),
        ),
        False,
        id="a later interview citing the event stays apart",
    ),
]


@pytest.mark.parametrize(("first", "second", "same"), RULE_CASES)
def test_same_event_rule(first: EventSignature, second: EventSignature, same: bool) -> None:
    assert same_story(first, second) is same


def test_match_explains_itself() -> None:
    other = article(
        "", "Azerbaijani and Turkish pilots flew in TurAz Qartalı-2022 on Monday, photos show."
    )
    match = best_match(other, [("story-1", QARTALI_2022_EN)])
    assert match is not None
    assert match.key == "story-1"
    assert "same countries AZ,TR" in match.reason
    assert "same round krtl-2022" in match.reason


def test_conflicting_rounds_veto_even_with_identical_wording() -> None:
    text = "Azerbaijani and Turkish air forces opened the TurAz Qartalı-{} exercise on Monday."
    assert best_match(article("", text.format(2019)), [(1, article("", text.format(2022)))]) is None


def test_undated_report_fitting_two_occasions_joins_neither() -> None:
    visit = "The command ship USS Blue Ridge arrived at Cam Ranh with Admiral Karl Thomas aboard."
    stories = [
        ("2012", article("", visit, published="2012-04-23", countries=("US", "VN"))),
        ("2024", article("", visit, published="2024-07-08", countries=("US", "VN"))),
    ]
    undated = article("", visit, published=None, countries=("US", "VN"))
    assert best_match(undated, stories) is None
    assert best_match(undated, stories[1:]) is not None


# ---------------------------------------------------------------------------------------------
# Features


@pytest.mark.parametrize(
    "spellings",
    [
        pytest.param(("Hasanov", "Həsənov", "Гасанов", "Hassanov"), id="Hasanov"),
        pytest.param(("Kishida", "Кишида", "Kishida's"), id="Kishida"),
        pytest.param(("Qartalı", "Kartalı", "Qartali"), id="Qartali"),
        pytest.param(("Khabarovsk", "Хабаровск", "Habarovsk"), id="Khabarovsk"),
    ],
)
def test_names_meet_across_scripts_and_spellings(spellings: tuple[str, ...]) -> None:
    tokens = [tf.name_token(s) for s in spellings]
    assert all(tf.shared_names([t], [tokens[0]]) for t in tokens), tokens


def test_similar_names_with_different_vowels_stay_apart() -> None:
    assert not tf.shared_names([tf.name_token("Manalo")], [tf.name_token("Manila")])


def test_hyphenated_names_count_once() -> None:
    assert tf.name_keys("", "Talks on the Indo-Pacific region.") == {"andpk"}


def test_state_names_are_not_names() -> None:
    assert tf.name_keys("", "Azerbaijani and Turkish officers met in Konya, Türkiye.") == {"kn.a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("TurAz Qartalı-2019 exercises", {"krtl:2019"}, id="name-year"),
        pytest.param("«Морской пояс безопасности — 2024»", {"bspsn:2024"}, id="quoted"),
        pytest.param("the Shaheen-IX exercise", {"shn:#9"}, id="roman"),
        pytest.param("这是中巴空军第八次举行", {":#8"}, id="chinese ordinal"),
        pytest.param("signed in 2022 and World War II", set(), id="not rounds"),
    ],
)
def test_rounds(text: str, expected: set[str]) -> None:
    assert {str(r) for r in tf.rounds(text)} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a $375 million deal", {375e6}, id="dollars"),
        pytest.param("the USD 374.9 mn contract", {374.9e6}, id="USD mn"),
        pytest.param("a $375-million deal", {375e6}, id="hyphen"),
        pytest.param("three batteries", set(), id="none"),
    ],
)
def test_amounts(text: str, expected: set[float]) -> None:
    assert tf.amounts(text) == expected


def test_dates_in_many_languages() -> None:
    text = "March 5; 5 марта; Sentyabrın 29-da; 8月23日; 2023-02-06; 19 юли"
    found = {(m.month, m.day) for m in tf.day_mentions(text)}
    assert found == {(3, 5), (9, 29), (8, 23), (2, 6), (7, 19)}


def test_weekday_becomes_a_date_near_publication() -> None:
    sig = article("", "The carrier arrived in Da Nang on Thursday.", published="2020-03-06")
    assert any(d.startswith("2020-03-05") for d in sig.dates)


# ---------------------------------------------------------------------------------------------
# Signature storage and merging


def test_json_round_trip_is_lossless_and_compact() -> None:
    story = merge(QARTALI_2022_EN, GULER_IN_BAKU)
    for sig in (QARTALI_2022_EN, story):
        stored = json.loads(json.dumps(sig.to_json()))
        assert EventSignature.from_json(stored) == sig
    assert len(json.dumps(story.to_json())) < 8000


def test_merge_unites_evidence_and_keeps_the_time_window() -> None:
    later = article("", "TurAz Qartalı-2022 continues.", published="2022-09-09")
    story = merge(QARTALI_2022_EN, later)
    assert story.published_at == day("2022-09-05")
    assert story.published_until == day("2022-09-09")
    assert story.size == 2
    assert "krtl:2022" in story.rounds


def test_index_keys_file_by_state_and_fall_back_when_stateless() -> None:
    assert {"c:AZ", "c:TR", "r:2022"} <= index_keys(QARTALI_2022_EN)
    assert COUNTRYLESS_KEY in index_keys(article("Quake", "A quake hit.", countries=()))


# ---------------------------------------------------------------------------------------------
# The incremental index


def test_story_index_joins_starts_and_evicts() -> None:
    index = StoryIndex(retention=timedelta(days=30))
    first, match = index.add("a1", QARTALI_2022_EN)
    assert (first, match) == ("a1", None)
    second, match = index.add(
        "a2",
        article(
            "", "TurAz Qartalı-2022: Azerbaijani and Turkish jets fly night sorties.", "2022-09-07"
        ),
    )
    assert second == "a1" and match is not None and match.score > 0
    # same states, same week, another occasion: the country pair alone does not merge
    other, match = index.add(
        "a3",
        article(
            "", "Azerbaijan and Turkey signed a military education agreement in Baku.", "2022-09-06"
        ),
    )
    assert other == "a3" and match is None
    assert len(index) == 2
    # years on, both stories have left the index: nothing can join them any more
    later, _ = index.add("a4", GULER_IN_BAKU)
    assert later == "a4"
    assert set(index.stories) == {"a4"}
    assert index.candidates(QARTALI_2022_EN) == [("a4", index.stories["a4"])]


def test_story_index_looks_up_through_keys_only() -> None:
    index = StoryIndex()
    index.add("vn", article("", "US carrier visits Da Nang.", countries=("US", "VN")))
    index.add("az", QARTALI_2022_EN)
    found = [key for key, _ in index.candidates(article("", "x", countries=("AZ",)))]
    assert found == ["az"]


def test_candidate_window_is_about_a_week() -> None:
    assert timedelta(days=5) <= candidate_window <= timedelta(days=10)


# ---------------------------------------------------------------------------------------------
# The batch


def fake_classify(title: str, summary: str, language: str | None) -> tuple[tuple[str, ...], None]:
    text = f"{title} {summary}"
    return tuple(c for c, word in (("AZ", "Azerbaijan"), ("TR", "Turk")) if word in text), None


def test_cluster_rows_keeps_input_order_and_handles_missing_dates() -> None:
    texts = {
        "b": "Turkish and Azerbaijani jets fly in TurAz Qartalı-2022.",
        "a": "Azerbaijan and Turkey open TurAz Qartalı-2022 on Monday.",
        "c": "Azerbaijan and Turkey open TurAz Qartalı-2019.",
    }
    published = {"b": None, "a": "2022-09-05", "c": "2019"}
    rows = [
        {"id": k, "title": "", "summary": v, "published": published[k], "language": "en",
         "url": None, "source": "x"}
        for k, v in texts.items()
    ]  # fmt: skip
    out = cluster_rows(rows, classify=fake_classify)
    assert [o["id"] for o in out] == ["b", "a", "c"]
    stories = {o["id"]: o["story"] for o in out}
    assert stories["a"] == stories["b"] != stories["c"]
    assert all(isinstance(o["story"], str) for o in out)


# ---------------------------------------------------------------------------------------------
# The acceptance figures on the development set, with the real scorer and classifier


def figure(pattern: str, report: str) -> tuple[str, ...]:
    found = re.search(pattern, report)
    assert found, f"{pattern!r} not in the scorer's report:\n{report}"
    return found.groups()


def test_dev_set_meets_the_issue_targets(tmp_path: Path) -> None:
    gold = EVAL / "dedup-dev.jsonl"
    scorer = EVAL / "score_dedup.py"
    if not (gold.is_file() and scorer.is_file()):
        pytest.skip(f"evaluation set not found in {EVAL} (read-only shared material)")
    inputs = subprocess.run(
        [sys.executable, str(scorer), "--inputs", str(gold)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [json.loads(line) for line in inputs.splitlines() if line.strip()]
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps(o) + "\n" for o in cluster_rows(rows)), encoding="utf-8")
    report = subprocess.run(
        [sys.executable, str(scorer), str(gold), str(pred), "--top", "0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    f1 = float(figure(r"pairwise precision=\S+ recall=\S+ F1=(\S+)", report)[0])
    cross_hit, cross_all = map(int, figure(r"cross-language (\d+)/(\d+)", report))
    merged = int(figure(r"look-alikes merged into another story: (\d+)/", report)[0])
    assert f1 >= 0.85, report
    assert cross_hit / cross_all >= 0.5, report
    assert merged <= 2, report


def test_benchmark_runs_small() -> None:
    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_cluster.py"
    args = ["--sizes", "100,300", "--articles", "40", "--naive-sample", "3"]
    result = subprocess.run(
        [sys.executable, str(bench), *args], capture_output=True, text=True, check=True
    )
    rows = [line for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 2, result.stdout
