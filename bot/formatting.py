"""Messages as Telegram HTML: pure functions, no I/O.

Every string that came from a feed (titles, summaries, outlet names, evidence, URLs) passes
through ``html.escape`` exactly once, here. Messages stay within Telegram's 4096-character
limit by construction: free text is clipped *before* escaping (so no entity or tag is ever
cut), and multi-story messages add whole stories until the next one would not fit.
Callback data is kept within Telegram's 64 bytes. Country names and flags come from the
gazetteer's data (``monitors.detect.countries``), which is pure too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot import why
from bot.i18n import ENGLISH, N_, Tr
from bot.parties import heading_states
from monitors.detect.countries import default_gazetteer, flag
from monitors.domain import StoryView

MAX_MESSAGE = 4096
MAX_CALLBACK_BYTES = 64
TITLE_CHARS = 300
SUMMARY_CHARS = 300
EVIDENCE_CHARS = 160
MAX_OUTLETS = 4

COOPERATION_LABELS = {
    "meeting_visit": N_("meeting / visit"),
    "exercise": N_("joint exercise"),
    "arms_transfer": N_("arms transfer"),
    "agreement": N_("agreement"),
    "industry": N_("defence industry"),
    "training": N_("training"),
    "aid": N_("military aid"),
    "other": N_("cooperation"),
}


def tg_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """Plain text shortened to ``limit`` characters with an ellipsis; whitespace collapsed."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def country_name(code: str, t: Tr = ENGLISH) -> str:
    """Name of an ISO code in ``t``'s language ('AZ' -> 'Azerbaijan'; the code if unknown)."""
    return default_gazetteer().name(code) if t is ENGLISH else t.country(code)


def country_label(code: str, t: Tr = ENGLISH) -> str:
    """'🇦🇿 Azerbaijan', escaped."""
    return esc(f"{flag(code)} {country_name(code, t)}".strip())


def when(moment: datetime, t: Tr = ENGLISH, zone: str = "UTC") -> str:
    """'03 Dec 2026 12:45 UTC'; in the chat's language and time zone (``bot.i18n``)."""
    return t.when(moment, zone)


MAX_LINK = 1024


def link(text: str, url: str | None) -> str:
    """Escaped text, linked when the URL is http(s) (never javascript: or the like)."""
    # An absurdly long address (a hostile feed) would crowd the title out of the message.
    if url and url.lower().startswith(("http://", "https://")) and len(url) <= MAX_LINK:
        return f'<a href="{esc(url)}">{esc(text)}</a>'
    return esc(text)


def outlet_names(story: StoryView) -> list[str]:
    """The story's outlets (feed titles), first report first, each once."""
    names: list[str] = []
    for outlet in story.outlets:
        if outlet.feed_title not in names:
            names.append(outlet.feed_title)
    return names


def outlets_line(story: StoryView, t: Tr = ENGLISH) -> str:
    names = outlet_names(story)
    shown = ", ".join(esc(clip(n, 60)) for n in names[:MAX_OUTLETS])
    more = f" +{len(names) - MAX_OUTLETS}" if len(names) > MAX_OUTLETS else ""
    return f"{shown}{more}" if shown else t._("unknown outlet")


def matched_label(term: str, t: Tr = ENGLISH) -> str:
    kind, _, value = term.partition(":")
    if kind == "country":
        return country_label(value, t)
    if kind == "list":
        return t._("list {name}", name=esc(value))
    return f"“{esc(value)}”"


def also_reported_line(story: StoryView, t: Tr = ENGLISH) -> str:
    """'Also reported by: B, C' for the outlets after the first ('' if there are none)."""
    others = outlet_names(story)[1:]
    if not others:
        return ""
    shown = ", ".join(esc(clip(n, 60)) for n in others[:MAX_OUTLETS])
    more = f" +{len(others) - MAX_OUTLETS}" if len(others) > MAX_OUTLETS else ""
    return t._("Also reported by: {outlets}", outlets=shown + more)


def format_alert(
    story: StoryView,
    matched: Sequence[str] = (),
    *,
    also_reported: bool = False,
    t: Tr = ENGLISH,
    zone: str = "UTC",
) -> str:
    """One alert: linked title, countries, type, outlets and time, summary, why, matched terms.

    "Why" is said in a reader's words (``bot.why``); the raw evidence is behind ``/why`` and
    the alert's "❓ Why" button.

    ``also_reported`` (an edit after later reports joined the story): the first outlet on the
    📰 line and an "Also reported by" line for the others. Headings, country names and the
    date are in the chat's language ``t`` and time zone ``zone``; the story's own text is not
    translated.
    """
    label = COOPERATION_LABELS.get(story.cooperation_type or "")
    kind = t._(label) if label else ""
    countries = " · ".join(country_label(c, t) for c in heading_states(story)) or "—"
    also = also_reported_line(story, t) if also_reported else ""
    first = esc(clip(outlet_names(story)[0], 60)) if also else outlets_line(story, t)
    lines = [
        f"🛡 <b>{link(clip(story.title, TITLE_CHARS), story.url)}</b>",
        f"{countries}" + (f" — <i>{esc(kind)}</i>" if kind else ""),
        f"📰 {first} · {esc(when(story.published_at, t, zone))}",
        *([also] if also else []),
    ]
    if story.summary.strip():
        lines.append(esc(clip(story.summary, SUMMARY_CHARS)))
    said = [t._(reason) for reason in why.reasons(story.cooperation_type, story.evidence)]
    if said:
        lines.append(t._("<i>Why:</i> {reasons}", reasons=esc("; ".join(said))))
    if matched:
        terms = ", ".join(matched_label(term, t) for term in matched[:10])
        lines.append(t._("🔎 Matched: {terms}", terms=terms))
    return fit_lines(lines)


def fit_lines(lines: Sequence[str], limit: int = MAX_MESSAGE) -> str:
    """Join whole lines (each a complete HTML fragment) while they fit; never cut one."""
    out: list[str] = []
    size = 0
    for line in lines:
        extra = tg_len(line) + (1 if out else 0)
        if size + extra > limit:
            break
        out.append(line)
        size += extra
    if not out and lines:  # never an empty message: the first line as plain text, clipped
        plain = html.unescape(re.sub(r"<[^>]*>", "", lines[0]))
        return esc(clip(plain, limit // 2))
    return "\n".join(out)


def story_item(
    story: StoryView, focus: Iterable[str] = (), t: Tr = ENGLISH, zone: str = "UTC"
) -> str:
    """One story in a list: every party's flag and the linked title, then outlets, date and
    the partner countries (those not in ``focus``), then a line of summary."""
    focus_set = set(focus)
    states = heading_states(story)
    partners = [c for c in states if c not in focus_set] or list(states)
    flags = "".join(flag(c) for c in states)
    parts = [
        f"• {flags + ' ' if flags else ''}<b>{link(clip(story.title, 200), story.url)}</b>",
        f"  {outlets_line(story, t)} · {esc(t.day(story.published_at, zone))}"
        + (" · " + ", ".join(country_label(c, t) for c in partners) if partners else ""),
    ]
    if story.summary.strip():
        parts.append(f"  <i>{esc(clip(story.summary, 160))}</i>")
    return "\n".join(parts)


def story_list(
    header: str,
    stories: Sequence[StoryView],
    focus: Iterable[str] = (),
    footer: str = "",
    limit: int = MAX_MESSAGE,
    t: Tr = ENGLISH,
    zone: str = "UTC",
) -> tuple[str, int]:
    """Header, then as many whole stories as fit; (html, how many stories were shown)."""
    focus = tuple(focus)
    text = header
    reserve = tg_len(footer) + 40  # room for the footer and an "… N more" line
    shown = 0
    for story in stories:
        item = story_item(story, focus, t, zone)
        if tg_len(text) + 2 + tg_len(item) + reserve > limit:
            break
        text += "\n\n" + item
        shown += 1
    if shown < len(stories):
        text += "\n\n" + t._("… and {count} more", count=len(stories) - shown)
    if footer:
        text += "\n\n" + footer
    return text, shown


def pair_key(story: StoryView) -> tuple[str, ...]:
    """The digest group of a story: all the states it is headed with."""
    return tuple(sorted(heading_states(story))) or ("—",)


def format_digest(
    title: str,
    stories: Sequence[StoryView],
    limit: int = MAX_MESSAGE,
    t: Tr = ENGLISH,
    zone: str = "UTC",
) -> str:
    """Stories grouped by their states (a pair, or all three of a trilateral meeting), newest
    group first, within the limit. ``title`` is already in the chat's language."""
    groups: dict[tuple[str, ...], list[StoryView]] = {}
    for story in stories:
        groups.setdefault(pair_key(story), []).append(story)
    count = t._n("{count} story", "{count} stories", len(stories))
    lines = [f"<b>{esc(title)}</b> — {count}"]
    size = tg_len(lines[0])
    omitted = 0
    for codes, members in groups.items():
        names = " – ".join(country_label(c, t) if c != "—" else c for c in codes)  # noqa: RUF001
        heading = f"\n<b>{names}</b>"
        for index, story in enumerate(members):
            item = (heading + "\n" if index == 0 else "") + story_item(story, codes, t, zone)
            if size + tg_len(item) + 1 + 40 > limit:
                omitted += 1
                continue
            lines.append(item)
            size += tg_len(item) + 1
    if omitted:
        lines.append("\n" + t._("… and {count} more", count=omitted))
    return "\n".join(lines)


def callback(*parts: object) -> str:
    """Callback data 'a:b:c', checked against Telegram's 64-byte limit."""
    data = ":".join(str(p) for p in parts)
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def intro(top: Sequence[tuple[str, int]], t: Tr = ENGLISH) -> str:
    lines = [
        t._("🛡 <b>defwatch</b> watches world news for <b>defence cooperation</b> between states."),
        t._(
            "Tell me which countries or keywords to watch: /watch azerbaijan, /keywords add S-400."
        ),
        t._("I alert you once per story, with sources; /latest, /digest and /help for more."),
    ]
    if top:
        lines.append("\n" + t._("Most covered right now — tap to watch:"))
    return "\n".join(lines)


# The kinds of a watchlist's items, as /watchlist and /lists title them.
RULE_TITLES = {
    "country": N_("Countries"),
    "keyword": N_("Keywords"),
    "exclude": N_("Excluded"),
    "list": N_("Named lists"),
}


def watchlist_text(rules: Sequence[tuple[str, str]], owner: str = "", t: Tr = ENGLISH) -> str:
    """The chat's rules as (kind, display) pairs; ``owner`` names the list, capitalised, in
    ``t``'s language ("Your watchlist", "This group's watchlist": ``bot.gates.whose``)."""
    owner = owner or t._("Your watchlist")
    if not rules:
        return t._(
            "{watchlist} is empty. Try /watch azerbaijan or /keywords add Bayraktar.",
            watchlist=esc(owner),
        )
    lines = [t._("<b>{watchlist}</b> (tap an item to remove it)", watchlist=esc(owner))]
    for kind, title in RULE_TITLES.items():
        items = [display for k, display in rules if k == kind]
        if items:
            lines.append(f"{t._(title)}: " + ", ".join(esc(i) for i in items))
    return "\n".join(lines)


def country_button_label(code: str, t: Tr = ENGLISH) -> str:
    """Button text (plain, not HTML): '🇦🇿 Azerbaijan'."""
    return f"{flag(code)} {country_name(code, t)}".strip()


def rule_button_label(kind: str, value: str, display: str, t: Tr = ENGLISH) -> str:
    """A /watchlist button (plain text): tapping it removes the item."""
    if kind == "country":
        return f"✖ {country_button_label(value, t)}"
    if kind == "exclude":
        return "✖ " + t._("not {phrase}", phrase=clip(display, 40))
    if kind == "list":
        return "✖ " + t._("list {name}", name=clip(display, 40))
    return "✖ " + clip(display, 40)


def watchlists_text(
    lists: Sequence[tuple[str, str, Sequence[str], Sequence[str]]],
    followed: Iterable[str],
    t: Tr = ENGLISH,
) -> str:
    """/lists: each named watchlist as (name, description, country codes, keywords)."""
    if not lists:
        return t._("No named watchlists are configured.")
    following = set(followed)
    lines = [t._("<b>Named watchlists</b> — /use NAME to follow, /drop NAME to stop")]
    for name, description, codes, keywords in lists:
        mark = "✅ " if name in following else ""
        lines.append(
            f"\n{mark}<b>{esc(name)}</b>" + (f" — {esc(description)}" if description else "")
        )
        if codes:
            names = ", ".join(country_label(c, t) for c in sorted(codes))
            lines.append(f"{t._('Countries')}: {names}")
        if keywords:
            lines.append(f"{t._('Keywords')}: " + ", ".join(esc(k) for k in sorted(keywords)))
    if following:
        names = ", ".join(esc(n) for n in sorted(following))
        lines.append("\n" + t._("This chat follows: {names}", names=names))
    return fit_lines(lines)
