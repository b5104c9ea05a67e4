"""Reader-facing reasons (bot/why.py) and the raw evidence behind /why (bot/explain.py)."""

from __future__ import annotations

import pytest

from bot.explain import evidence_text
from bot.why import raw_lines, reasons
from monitors.detect.classify import classify
from tests.test_formatting import check_html, story

RAW = (
    "countries:AZ,CN",
    "term:discuss(+0.15,meeting_visit)",
    "term:military(+0.20,mil)",
    "term:military(+0.20,mil)",
    "term:defence ministers(+0.30,mil +0.05,meeting_visit)",
    "term:military cooperation(+0.30,coop +0.20,mil)",
    "type:meeting_visit",
    "score:1.00",
)


@pytest.mark.parametrize(
    ("kind", "evidence", "expected"),
    [
        pytest.param(
            "meeting_visit",
            RAW,
            ["defence ministers met", "military cooperation discussed"],
            id="ministers met, cooperation discussed",
        ),
        pytest.param(
            "meeting_visit",
            ("term:discuss(+0.15,meeting_visit)", "term:military(+0.20,mil)") * 3,
            ["defence officials met or visited"],
            id="repeated terms said once",
        ),
        pytest.param(
            "meeting_visit",
            ("hit[defence ministers] -> mil 0.30", "hit[military cooperation] groups=coop,mil"),
            ["defence ministers met", "military cooperation discussed"],
            id="another evidence spelling still read by groups and words",
        ),
        pytest.param(
            "exercise",
            ("term:joint naval drills(+0.45,exercise +0.10,coop)",),
            ["navies drilled together"],
            id="the act is not repeated as a sign",
        ),
        pytest.param(
            "agreement",
            ("term:signed(+0.2,signing)", "term:agreement(+0.3,agreement)"),
            ["a defence agreement signed"],
            id="signed agreement",
        ),
        pytest.param(None, ("rule:single country -> not cooperation",), [], id="nothing to say"),
        pytest.param("meeting_visit", (), ["defence officials met or visited"], id="no evidence"),
    ],
)
def test_reasons(kind: str | None, evidence: tuple[str, ...], expected: list[str]) -> None:
    assert reasons(kind, evidence) == expected


def test_reasons_of_a_classified_trilateral_meeting() -> None:
    verdict = classify(
        "Azerbaijan, Georgia and Turkey defence ministers meet in Tbilisi",
        "The ministers discussed trilateral military cooperation.",
    )
    said = reasons(verdict.cooperation_type, verdict.evidence)
    assert said[0] == "defence ministers met" and len(said) <= 3
    assert len(set(said)) == len(said)
    assert not any(":" in reason or "+" in reason for reason in said)


def test_raw_lines_deduplicated_in_order() -> None:
    assert raw_lines(RAW) == [RAW[0], RAW[1], RAW[2], *RAW[4:]]


def test_evidence_text_escaped_and_complete() -> None:
    text = evidence_text([story(evidence=("term:<b>x</b>(+0.20,mil)", *RAW))])
    check_html(text)
    assert "term:&lt;b&gt;x&lt;/b&gt;(+0.20,mil)" in text and "<b>x</b>" not in text
    assert "term:discuss(+0.15,meeting_visit)" in text and text.count("term:military(") == 1
    assert "score 0.90 · meeting / visit · defence ministers met" in text
