"""The message catalogues' upkeep: extract, update, check (``scripts/i18n.py`` runs these).

Rules
    * The template (``bot/locales/defwatch.pot``) holds every text marked in ``bot/`` (and in
      ``monitors/views/charts.py``, the pictures, with the legends' type labels) with
      ``_``, ``_n`` (singular, plural), ``N_`` or ``Said`` (Babel's Python extractor, as ``pybabel
      extract -k _n:1,2 -k N_`` would), plus every ``say`` of ``config/why.toml`` (the reasons
      an alert gives; ``bot.why`` translates them when it says them).
    * ``update`` merges the template into each catalogue: new texts arrive untranslated, texts
      gone from the code are dropped, translations are kept. No fuzzy guessing: a guess that
      looks translated is worse than an English text that is seen to be missing.
    * ``problems(language)`` is what the catalogue test asserts empty: a text of the template
      missing, untranslated or fuzzy, a plural without all its forms, and a translation whose
      ``{placeholders}`` or HTML tags differ from the English.
"""

from __future__ import annotations

import io
import re
import tomllib
from collections import Counter
from pathlib import Path

from babel.messages import pofile
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir

from bot.i18n import DOMAIN, LANGUAGES, LOCALES_DIR, catalogue_path
from config import data_path
from monitors.views.analysis import OTHERS
from monitors.views.labels import TYPE_LABELS

BOT_DIR = Path(__file__).resolve().parent
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
KEYWORDS = {"_": None, "_n": (1, 2), "N_": None, "N_n": (1, 2), "Said": None, "SaidN": (1, 2)}
HEADER = """\
# defwatch messages in {language}; English is the source language (the msgids).
# Update with scripts/i18n.py update; tests/test_i18n.py checks it is complete.
#"""
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_TAG = re.compile(r"</?[a-z]+[^>]*>")


def template() -> Catalog:
    """Every text the bot says, from the code and from ``config/why.toml``."""
    catalog = Catalog(domain=DOMAIN, project="defwatch", charset="utf-8", fuzzy=False)
    found = extract_from_dir(
        str(BOT_DIR),
        method_map=[("**.py", "python")],
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(
            message,
            None,
            [(f"bot/{filename}", lineno)],
            auto_comments=comments,
            context=context,
        )
    pictures = extract_from_dir(
        str(BOT_DIR.parent / "monitors" / "views"),
        method_map=[("charts.py", "python")],
        keywords=KEYWORDS,
    )
    for filename, lineno, message, _comments, context in pictures:
        catalog.add(message, None, [(f"monitors/views/{filename}", lineno)], context=context)
    for label in (*TYPE_LABELS.values(), OTHERS):  # the pictures' legends
        catalog.add(label, None, [("monitors/views/labels.py", 0)])
    why = tomllib.loads(data_path("why.toml").read_text(encoding="utf-8"))
    for section in ("act", "sign"):
        for index, entry in enumerate(why.get(section, [])):
            catalog.add(
                str(entry["say"]),
                None,
                [("config/why.toml", index + 1)],
                auto_comments=[f"why.toml [[{section}]]: a reason an alert gives"],
            )
    return catalog


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pofile.write_po(buffer, catalog, width=100, sort_output=False, omit_header=False)
    path.write_bytes(buffer.getvalue())


def read(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as handle:
        return pofile.read_po(handle, locale=language, domain=DOMAIN)


def update(language: str, source: Catalog | None = None) -> Catalog:
    """Merge the template into the catalogue of ``language`` (created if missing); written."""
    source = source or template()
    path = catalogue_path(language)
    catalog = read(language) if path.exists() else Catalog(locale=language, domain=DOMAIN)
    catalog.update(source, no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    # The header is never fuzzy: a fuzzy header would drop its Plural-Forms when compiled.
    catalog.fuzzy = False
    catalog.project, catalog.version = "defwatch", "0"
    catalog.msgid_bugs_address = ""
    catalog.last_translator = catalog.language_team = "defwatch translators"
    catalog.header_comment = HEADER.format(language=language)
    write(catalog, path)
    return catalog


def _strings(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _shape(text: str) -> tuple[Counter[str], Counter[str]]:
    return Counter(_PLACEHOLDER.findall(text)), Counter(_TAG.findall(text))


def message_problems(message: Message, plurals: int) -> list[str]:
    """What is wrong with one translated message (empty when nothing)."""
    ids = _strings(message.id)
    said = _strings(message.string)
    name = ids[0][:60]
    if message.fuzzy:
        return [f"fuzzy: {name!r}"]
    if not said or not all(s.strip() for s in said):
        return [f"untranslated: {name!r}"]
    if len(ids) > 1 and len(said) != plurals:
        return [f"{len(said)} plural forms instead of {plurals}: {name!r}"]
    english = [_shape(i) for i in ids]
    wanted = set().union(*(p for p, _ in english))
    problems = []
    for form in said:
        placeholders, tags = _shape(form)
        # A plural form may leave {count} out (Russian "one" can say "одна"), nothing else.
        spare = {"{count}"} if len(ids) > 1 else set()
        if set(placeholders) - spare != wanted - spare:
            problems.append(f"placeholders {sorted(placeholders)} differ: {name!r}")
        if not any(tags == t for _, t in english):
            problems.append(f"HTML tags {sorted(tags)} differ: {name!r}")
    return problems


def problems(language: str, source: Catalog | None = None) -> list[str]:
    """Everything that keeps ``language``'s catalogue from being complete and correct."""
    source = source or template()
    if not catalogue_path(language).exists():
        return [f"{catalogue_path(language)} is missing"]
    catalog = read(language)
    plurals = catalog.num_plurals
    found: list[str] = []
    for wanted in source:
        if not wanted.id:
            continue
        message = catalog.get(wanted.id, context=wanted.context)
        if message is None:
            found.append(f"missing: {_strings(wanted.id)[0][:60]!r}")
            continue
        found += message_problems(message, plurals)
    return found


def translated_languages() -> tuple[str, ...]:
    """Every language with a catalogue (all but English)."""
    return tuple(language for language in LANGUAGES if language != "en")
