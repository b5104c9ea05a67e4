# ruff: noqa: RUF002, RUF003 - examples in Russian are intended
"""The languages the bot speaks: gettext catalogues for its texts, Babel's CLDR data for the rest.

Rules
    * ``LANGUAGES``: English (the source language: every ``msgid`` is the English text, so it
      needs no catalogue), Russian, Azerbaijani and Turkish. A language is added by adding its
      catalogue (``scripts/i18n.py init LANG``, translate, then list it here and in
      ``LANGUAGE_NAMES``); no other code changes.
    * Catalogues are ``bot/locales/<lang>/LC_MESSAGES/defwatch.po``, read at first use with
      ``babel.messages.pofile.read_po`` and compiled in memory (``mofile.write_mo`` into
      ``babel.support.Translations``). So a clean clone, ``pip install -e .`` or a wheel
      needs no build step and there are no ``.mo`` files to keep in step with the sources.
      Fuzzy and empty entries are not used: such a text stays English (the catalogue test,
      ``tests/test_i18n.py``, fails on them, so it never ships that way).
    * Texts use ``str.format`` placeholders (``{count}``, ``{name}``); a translation must keep
      the same placeholders and HTML tags (checked by the catalogue test). Plural forms come
      from each catalogue's ``Plural-Forms`` header (CLDR's: Russian three, Azerbaijani and
      Turkish two); ``Tr._n`` picks the form and formats ``count`` into it.
    * Marking: ``tr._("text", **values)``, ``tr._n("one", "many", count, **values)``,
      ``N_("text")`` for texts defined apart from where they are said (module constants), and
      ``Said("text", **values)`` (``SaidN`` with a plural) for texts made where no language
      is known (parsers' errors): English as a string, said in a chat's language with
      ``say(text, tr)``. The extraction (``bot/catalogues.py``) reads these names and
      ``config/why.toml``.
    * A chat's language (``chat.language``) is chosen from the Telegram user's
      ``language_code`` on ``/start`` (``pick_language``: "ru-RU" -> "ru"; an unsupported or
      missing code -> English) and changed with ``/language``.
    * Country names, dates and times in a language come from CLDR through Babel:
      ``Tr.country`` (the gazetteer's display name in that locale; English keeps the
      gazetteer's own English names), ``Tr.when`` (day, month, year and 24-hour time in the
      chat's time zone, with the zone's label).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, dates, lists
from babel.messages import mofile, pofile
from babel.support import NullTranslations, Translations

DOMAIN = "defwatch"
LOCALES_DIR = Path(__file__).with_name("locales")
DEFAULT = "en"
LANGUAGES: tuple[str, ...] = ("en", "ru", "az", "tr")
# Each language named in itself (the /language buttons).
LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "az": "Azərbaycanca", "tr": "Türkçe"}
LANGUAGE_FLAGS = {"en": "🇬🇧", "ru": "🇷🇺", "az": "🇦🇿", "tr": "🇹🇷"}
# English dates keep the form the bot always used ("03 Dec 2026 12:45"), written as a CLDR
# pattern; other languages use their CLDR long date ("3 декабря 2026 г.") and a 24-hour time.
ENGLISH_DATE = "dd MMM y"


def N_(text: str) -> str:
    """Marks ``text`` for extraction where it is defined; it is translated where it is said."""
    return text


def N_n(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural pair for extraction; said later with ``tr._n(*pair, count)``."""
    return singular, plural


class Said(str):
    """A text made where no chat's language is at hand (argument parsers, pure checks): it is
    the English text, so it reads as before wherever it is used as a string, and it keeps the
    catalogue text and values so a handler can say it in the chat's language: ``say(x, t)``.
    Marked for extraction like ``_`` (values may be ``Said`` too)."""

    text: str
    values: dict[str, Any]

    def __new__(cls, text: str, **values: Any) -> Said:
        said = super().__new__(cls, text.format(**values) if values else text)
        said.text, said.values = text, values
        return said

    def in_(self, t: Tr) -> str:
        values = {k: say(v, t) if isinstance(v, Said) else v for k, v in self.values.items()}
        return t._(self.text, **values)


class SaidN(Said):
    """A ``Said`` with a plural: ``SaidN("{count} item", "{count} items", count, **values)``."""

    plural: str

    def __new__(cls, singular: str, plural: str, count: int, **values: Any) -> SaidN:
        english = (singular if count == 1 else plural).format(count=count, **values)
        said = str.__new__(cls, english)
        said.text, said.plural, said.values = singular, plural, {"count": count, **values}
        return said

    def in_(self, t: Tr) -> str:
        values = dict(self.values)
        count = values.pop("count")
        return t._n(self.text, self.plural, count, **values)


class Joined(Said):
    """Texts said one after another ("problem. hint"): each part in the language."""

    parts: tuple[str, ...]
    sep: str

    def __new__(cls, *parts: str, sep: str = " ") -> Joined:
        kept = tuple(p for p in parts if p)
        said = str.__new__(cls, sep.join(kept))
        said.text, said.values, said.parts, said.sep = sep.join(kept), {}, kept, sep
        return said

    def in_(self, t: Tr) -> str:
        return self.sep.join(say(part, t) for part in self.parts)


class Alternatives(Said):
    """Choices to be joined with the language's "or" when said ("A, B, or C")."""

    items: tuple[str, ...]

    def __new__(cls, items: Sequence[str]) -> Alternatives:
        kept = tuple(items)
        said = str.__new__(cls, Tr().alternatives(kept))
        said.text, said.values, said.items = str(said), {}, kept
        return said

    def in_(self, t: Tr) -> str:
        return t.alternatives(self.items)


def say(text: object, t: Tr) -> str:
    """``text`` in ``t``'s language when it is a ``Said`` (or an error carrying one as its
    message); any other text as it is."""
    if isinstance(text, BaseException) and len(text.args) == 1:
        text = text.args[0]
    return text.in_(t) if isinstance(text, Said) else str(text)


def catalogue_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def pick_language(code: str | None) -> str:
    """A supported language for a Telegram ``language_code`` ('ru', 'tr-TR', 'pt-br', None)."""
    primary = (code or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT


def supported(language: str | None) -> str:
    """``language`` if the bot speaks it, else English (a stored value from an older list)."""
    return language if language in LANGUAGES else DEFAULT


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language`` (English: none needed)."""
    path = catalogue_path(language)
    if language == DEFAULT or not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = pofile.read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    mofile.write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@dataclass(frozen=True, slots=True)
class Tr:
    """Everything said in one language: texts, plurals, country names, dates."""

    language: str = DEFAULT

    @property
    def _t(self) -> NullTranslations:
        return translations(self.language)

    def _(self, text: str, **values: Any) -> str:
        said = self._t.gettext(text)
        return said.format(**values) if values else said

    def _n(self, singular: str, plural: str, count: int, **values: Any) -> str:
        return self._t.ngettext(singular, plural, count).format(count=count, **values)

    def alternatives(self, items: Sequence[str]) -> str:
        """'A, B, or C' / 'A, B или C': choices joined the way this language says "or" (CLDR)."""
        return lists.format_list(list(items), style="or", locale=self.language) if items else ""

    def country(self, code: str) -> str:
        """The country's name in this language ('AZ' -> 'Азербайджан')."""
        from monitors.detect.countries import default_gazetteer

        return default_gazetteer().name(code, self.language)

    def when(self, moment: datetime, zone: str = "UTC") -> str:
        """'03 Dec 2026 12:45 UTC', '3 декабря 2026 г., 16:45 Asia/Baku' in the chat's time zone."""
        local = moment.astimezone(_zone(zone))
        label = "UTC" if zone == "UTC" else _zone_label(zone)
        if self.language == DEFAULT:
            day = dates.format_date(local, ENGLISH_DATE, locale="en")
            return f"{day} {local:%H:%M} {label}"
        day = dates.format_date(local, "long", locale=self.language)
        return f"{day}, {local:%H:%M} {label}"

    def day(self, moment: datetime, zone: str = "UTC") -> str:
        """The date alone: '03 Dec 2026', '3 декабря 2026 г.'."""
        local = moment.astimezone(_zone(zone))
        width = ENGLISH_DATE if self.language == DEFAULT else "long"
        return dates.format_date(local, width, locale=self.language)

    def short_day(self, moment: datetime) -> str:
        """Day and month: '03 Dec', '3 дек.' (the views' story lists)."""
        pattern = "dd MMM" if self.language == DEFAULT else "d MMM"
        return dates.format_date(moment, pattern, locale=self.language)

    def locale(self) -> Locale:
        return Locale.parse(self.language)


def _zone(name: str) -> ZoneInfo | Any:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return UTC


def _zone_label(name: str) -> str:
    from bot.timezones import zone_label

    return zone_label(name)


@functools.cache
def tr(language: str | None) -> Tr:
    """The ``Tr`` of a stored or picked language (unsupported values speak English)."""
    return Tr(supported(language))


ENGLISH = Tr()
CHAT_KEY = "language"  # PTB chat_data key: the chat's language (set by bot.language's gate)


def tr_of(context: Any) -> Tr:
    """The language of the chat a handler serves (``context.chat_data``; English if none)."""
    data = getattr(context, "chat_data", None)
    return tr(data.get(CHAT_KEY) if data is not None else None)


def spoken(locale: tuple[str | None, str] | None) -> tuple[Tr, str]:
    """(language, time zone) of a chat from ``subscriptions.chat_locales``; English, UTC."""
    if locale is None:
        return tr(None), "UTC"
    return tr(locale[0]), locale[1] or "UTC"
