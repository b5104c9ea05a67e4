"""Score the classifier against labelled news (the /work/shared/eval/README.md schema).

Rules
    - Rows marked ``uncertain: true`` are left out (and counted in ``skipped_uncertain``).
    - Stream files (every entry of real feeds, ``stream-README.md``): a row with
      ``labelled: false`` was never read by an annotator and counts as negative (counted in
      ``unlabelled``), so the scores show base-rate behaviour.
    - A row's ``source_country`` (the state a force's or ministry's feed speaks for) is passed
      to the classifier.
    - Detection: precision, recall and F1 of ``defence_cooperation``.
    - Countries: on true positives, the share whose participant set equals the labelled
      ``countries`` set exactly (order ignored).
    - Type: on true positives, the share whose ``cooperation_type`` equals the label.
    - False positives are counted by the row's ``negative_type``; accuracy (label agreement)
      is also broken down by ``language``.  The report lists every false positive and false
      negative (id, language, predicted and labelled states, title).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitors.detect.classify import classify
from monitors.detect.sources import source_state
from monitors.domain import Classification

__all__ = ["EvalReport", "evaluate", "format_report"]

ClassifierFn = Callable[..., Classification]


@dataclass
class EvalReport:
    """Counts from one evaluation run; ratios are properties."""

    total: int = 0
    skipped_uncertain: int = 0
    unlabelled: int = 0
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0
    countries_exact: int = 0
    type_exact: int = 0
    false_positives_by_type: Counter[str] = field(default_factory=Counter)
    correct_by_language: Counter[str] = field(default_factory=Counter)
    total_by_language: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return _ratio(self.true_positive, self.true_positive + self.false_positive)

    @property
    def recall(self) -> float:
        return _ratio(self.true_positive, self.true_positive + self.false_negative)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def country_accuracy(self) -> float:
        return _ratio(self.countries_exact, self.true_positive)

    @property
    def type_accuracy(self) -> float:
        return _ratio(self.type_exact, self.true_positive)

    @property
    def accuracy(self) -> float:
        return _ratio(self.true_positive + self.true_negative, self.total)

    def language_accuracy(self) -> dict[str, float]:
        return {
            lang: _ratio(self.correct_by_language[lang], n)
            for lang, n in sorted(self.total_by_language.items())
        }


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def evaluate(rows: Iterable[dict[str, Any]], classifier: ClassifierFn = classify) -> EvalReport:
    """Run ``classifier(title, summary, language, source_country)`` over labelled rows (or a
    stream file); see module doc."""
    report = EvalReport()
    for row in rows:
        if row.get("uncertain"):
            report.skipped_uncertain += 1
            continue
        _score_row(report, row, classifier)
    return report


def _score_row(report: EvalReport, row: dict[str, Any], classifier: ClassifierFn) -> None:
    language = row.get("language")
    result = classifier(
        row.get("title") or "",
        row.get("summary") or "",
        language,
        source_state(row.get("source_country"), (row.get("url"),)),
    )
    unlabelled = row.get("labelled") is False
    report.unlabelled += unlabelled
    expected = bool(row.get("defence_cooperation")) and not unlabelled
    report.total += 1
    lang = language or "?"
    report.total_by_language[lang] += 1
    if result.defence_cooperation == expected:
        report.correct_by_language[lang] += 1
    if expected and result.defence_cooperation:
        report.true_positive += 1
        countries_ok = set(result.participants) == set(row.get("countries") or ())
        report.countries_exact += countries_ok
        report.type_exact += result.cooperation_type == row.get("cooperation_type")
        if not countries_ok or result.cooperation_type != row.get("cooperation_type"):
            report.errors.append({"kind": "detail", "row": row, "result": result})
    elif expected:
        report.false_negative += 1
        report.errors.append({"kind": "false_negative", "row": row, "result": result})
    elif result.defence_cooperation:
        report.false_positive += 1
        report.false_positives_by_type[row.get("negative_type") or "unknown"] += 1
        report.errors.append({"kind": "false_positive", "row": row, "result": result})
    else:
        report.true_negative += 1


def format_report(report: EvalReport) -> str:
    """Plain-text summary of an evaluation, for the terminal."""
    lines = [
        f"items scored: {report.total} (left out as uncertain: {report.skipped_uncertain}; "
        f"unlabelled, counted negative: {report.unlabelled})",
        f"TP {report.true_positive}  FP {report.false_positive}  "
        f"FN {report.false_negative}  TN {report.true_negative}",
        f"precision: {report.precision:.3f}",
        f"recall:    {report.recall:.3f}",
        f"F1:        {report.f1:.3f}",
        f"participant countries exact (on TP): {report.country_accuracy:.3f} "
        f"({report.countries_exact}/{report.true_positive})",
        f"cooperation type exact (on TP):      {report.type_accuracy:.3f} "
        f"({report.type_exact}/{report.true_positive})",
        "accuracy by language:",
    ]
    for lang, accuracy in report.language_accuracy().items():
        lines.append(
            f"  {lang:<4} {accuracy:.3f} "
            f"({report.correct_by_language[lang]}/{report.total_by_language[lang]})"
        )
    lines.append("false positives by negative_type:")
    if not report.false_positives_by_type:
        lines.append("  (none)")
    for negative_type, count in sorted(
        report.false_positives_by_type.items(), key=lambda item: (-item[1], item[0])
    ):
        lines.append(f"  {negative_type:<28} {count}")
    for kind in ("false_positive", "false_negative"):
        errors = [error for error in report.errors if error["kind"] == kind]
        lines.append(f"{kind.replace('_', ' ')}s ({len(errors)}):")
        lines.extend(_error_line(error) for error in errors)
    return "\n".join(lines)


def _error_line(error: dict[str, Any]) -> str:
    row, result = error["row"], error["result"]
    predicted = ",".join(result.participants) or "-"
    labelled = ",".join(row.get("countries") or ()) or "-"
    title = (row.get("title") or row.get("summary") or "")[:90]
    return (
        f"  {row.get('id', '?')} [{row.get('language') or '?'}] "
        f"pred {predicted} gold {labelled}  {title}"
    )
