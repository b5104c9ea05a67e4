"""Evaluation report: counts, ratios, formatting, and the dev-set regression guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitors.detect.evaluate import evaluate, format_report
from monitors.domain import Classification

DEV_SET = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "dev.jsonl"


def row(title: str, positive: bool, countries: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "summary": "",
        "language": extra.pop("language", "en"),
        "defence_cooperation": positive,
        "countries": countries,
        "cooperation_type": extra.pop("cooperation_type", None),
        "negative_type": extra.pop("negative_type", None),
        "uncertain": extra.pop("uncertain", False),
    }


SAMPLE = [
    row(
        "Azerbaijan and Turkey begin joint military exercises",
        True,
        ["AZ", "TR"],
        cooperation_type="exercise",
    ),
    row(
        "Pakistan and China hold joint naval drills",
        True,
        ["PK", "CN"],
        cooperation_type="exercise",
    ),
    row("Egypt retires its defence minister", False, ["EG"], negative_type="domestic_politics"),
    row(
        "Azerbaijan and China sign trade deals",
        False,
        ["AZ", "CN"],
        negative_type="same_countries_nondefence",
    ),
    row(
        "France and India hold joint exercise",
        True,
        ["FR", "IN"],
        uncertain=True,
        cooperation_type="exercise",
    ),
    row(
        "Россия и Китай увеличили товарооборот",
        False,
        ["RU", "CN"],
        language="ru",
        negative_type="same_countries_nondefence",
    ),
]


def test_evaluate_sample() -> None:
    report = evaluate(SAMPLE)
    assert report.skipped_uncertain == 1
    assert report.total == 5
    assert (report.true_positive, report.false_positive) == (2, 0)
    assert (report.false_negative, report.true_negative) == (0, 3)
    assert report.precision == report.recall == report.f1 == 1.0
    assert report.country_accuracy == 1.0
    assert report.type_accuracy == 1.0
    assert report.language_accuracy() == {"en": 1.0, "ru": 1.0}


def test_false_positives_are_broken_down_by_negative_type() -> None:
    def always_yes(
        title: str, summary: str = "", language: str | None = None, source: str | None = None
    ) -> Classification:
        return Classification(True, 1.0, ("AZ", "TR"), (), "exercise", ("test",))

    report = evaluate(SAMPLE, classifier=always_yes)
    assert report.false_positive == 3
    assert report.false_positives_by_type == {
        "domestic_politics": 1,
        "same_countries_nondefence": 2,
    }
    assert report.country_accuracy == 0.5  # AZ,TR right; PK,CN wrong
    text = format_report(report)
    for needle in ("precision", "recall", "F1", "same_countries_nondefence", "uncertain: 1", "ru"):
        assert needle in text


def test_empty_input() -> None:
    report = evaluate([])
    assert report.f1 == 0.0 and report.total == 0
    assert "(none)" in format_report(report)


@pytest.mark.skipif(not DEV_SET.exists(), reason=f"dev set not found at {DEV_SET}")
def test_dev_set_quality() -> None:
    with DEV_SET.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    report = evaluate(rows)
    assert report.f1 >= 0.90, format_report(report)
    assert report.country_accuracy >= 0.85, format_report(report)


def test_stream_rows_unlabelled_count_negative_and_errors_are_listed() -> None:
    """Stream files: unlabelled rows are negatives; uncertain rows are left out; every false
    positive and false negative is printed."""
    stream = [
        row("Azerbaijan and Turkey begin joint military exercises", True, ["AZ", "TR"])
        | {"id": "s-tp", "labelled": True},
        row("Pakistan and China hold joint naval drills", False, []) | {"id": "s-unlabelled"},
        row("Weather: rain in Baku", False, []) | {"id": "s-tn", "labelled": False},
        row("India and France hold joint exercise", True, ["IN", "FR"], uncertain=True)
        | {"id": "s-uncertain", "labelled": True},
        row("Greece and Egypt sign defence pact", True, ["GR", "EG"])
        | {"id": "s-fn", "labelled": True},
    ]
    stream[1]["labelled"] = False  # never read by an annotator: counts as negative

    def exercises_only(
        title: str, summary: str = "", language: str | None = None, source: str | None = None
    ) -> Classification:
        positive = "joint" in title
        return Classification(positive, float(positive), ("AZ", "TR") if positive else ())

    report = evaluate(stream, classifier=exercises_only)
    assert (report.true_positive, report.false_positive) == (1, 1)
    assert (report.false_negative, report.true_negative) == (1, 1)
    assert report.unlabelled == 2 and report.skipped_uncertain == 1
    text = format_report(report)
    assert "false positives (1):\n  s-unlabelled" in text
    assert "false negatives (1):\n  s-fn" in text


def test_source_country_reaches_the_classifier() -> None:
    seen: list[str | None] = []

    def spy(
        title: str, summary: str = "", language: str | None = None, source: str | None = None
    ) -> Classification:
        seen.append(source)
        return Classification(False, 0.0)

    evaluate([row("Airmen train abroad", False, []) | {"source_country": "US"}], classifier=spy)
    assert seen == ["US"]
