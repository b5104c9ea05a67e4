"""Throughput of ``classify()`` on one core, beside a plain ``feedparser.parse`` baseline.

    python bench/bench_classify.py [--n 10000] [--data PATH]

Items come from the development set (../shared/eval/dev.jsonl next to the repository),
repeated until there are ``--n`` of them.  The baseline wraps the same items in one RSS
document and parses it with feedparser, so both numbers describe the same text in one run.
Load time is the cold cost of building the gazetteer (CLDR + countries.toml) and lexicon.
Rates use CPU time of this process (``time.process_time``), so other work on a shared machine
does not distort them; wall-clock seconds are shown beside.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "eval" / "dev.jsonl"
FALLBACK_ITEMS = [
    {
        "title": "Azerbaijan and Türkiye begin joint military exercises",
        "summary": "",
        "language": "en",
    },
    {"title": "China and Pakistan navies hold joint drills", "summary": "", "language": "en"},
    {"title": "Central bank keeps rates on hold", "summary": "", "language": "en"},
]


def load_items(path: Path, n: int) -> list[dict[str, str]]:
    """``n`` items from ``path`` (repeated as needed), or a tiny built-in sample."""
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            base = [json.loads(line) for line in handle if line.strip()]
    else:
        print(f"note: {path} not found, using a built-in sample", file=sys.stderr)
        base = FALLBACK_ITEMS
    return [base[i % len(base)] for i in range(n)]


def as_rss(items: list[dict[str, str]]) -> str:
    entries = "".join(
        f"<item><title>{escape(item.get('title') or '')}</title>"
        f"<description>{escape(item.get('summary') or '')}</description>"
        f"<guid>item-{i}</guid></item>"
        for i, item in enumerate(items)
    )
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bench</title>'
    return f"{head}{entries}</channel></rss>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="items to classify (default 10000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSONL with title/summary")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from monitors.detect.classify import classify, default_classifier

    default_classifier()
    load_seconds = time.perf_counter() - started

    items = load_items(args.data, max(1, args.n))

    started, cpu = time.perf_counter(), time.process_time()
    for item in items:
        classify(item.get("title") or "", item.get("summary") or "", item.get("language"))
    classify_wall = time.perf_counter() - started
    classify_seconds = time.process_time() - cpu

    import feedparser

    document = as_rss(items)
    started, cpu = time.perf_counter(), time.process_time()
    parsed = feedparser.parse(document)
    parse_wall = time.perf_counter() - started
    parse_seconds = time.process_time() - cpu

    rows = [
        ("load gazetteer + lexicon", f"{load_seconds:.3f} s", "", ""),
        (
            "classify()",
            f"{len(items) / max(classify_seconds, 1e-9):,.0f} items/s",
            f"{classify_seconds:.3f} s",
            f"{classify_wall:.3f} s",
        ),
        (
            "feedparser.parse (baseline)",
            f"{len(parsed.entries) / max(parse_seconds, 1e-9):,.0f} items/s",
            f"{parse_seconds:.3f} s",
            f"{parse_wall:.3f} s",
        ),
    ]
    print(f"items: {len(items)}  (source: {args.data.name if args.data.exists() else 'built-in'})")
    width = max(len(name) for name, *_ in rows)
    print(f"{'':<{width}}  {'rate (CPU time)':>20}  {'CPU':>9}  {'wall':>9}")
    for name, rate, cpu_total, wall_total in rows:
        print(f"{name:<{width}}  {rate:>20}  {cpu_total:>9}  {wall_total:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
