"""The states a story is headed with: its participants, and the states its headline lists
with them. Pure; the joiners are data (``config/headline.toml``).

Rule: the headline's country mentions (``monitors.detect.countries``) are read left to right; two
mentions next to each other with only joiners and spaces between them ("Azerbaijan, Georgia
and Turkey") belong to one list, when some joiner is more than a comma. A state the
classifier counted as *mentioned* is a party when it is in the same list as a participant.
A state named elsewhere ("drills near Japan") stays merely mentioned. Participants come
first, in their stored order, then the listed states.
"""

from __future__ import annotations

import functools
import re
import tomllib

from config import data_path
from monitors.detect.countries import default_gazetteer
from monitors.domain import StoryView


@functools.cache
def _joiner_gap() -> re.Pattern[str]:
    table = tomllib.loads(data_path("headline.toml").read_text(encoding="utf-8"))
    words = sorted((re.escape(j) for j in table.get("joiners", [])), key=len, reverse=True)
    return re.compile(rf"(?:\s|{'|'.join(words)})*", re.IGNORECASE)


def listed_together(title: str) -> list[set[str]]:
    """The headline's lists of states: codes named next to each other with only joiners,
    at least one of them more than a comma ("A, B and C", "A-B"; not "A, B says")."""
    groups: list[tuple[set[str], bool]] = []
    previous_end = -1
    for mention in sorted(default_gazetteer().find(title), key=lambda m: m.start):
        gap = title[previous_end : mention.start] if previous_end >= 0 else None
        if gap is not None and _joiner_gap().fullmatch(gap):
            codes, joined = groups[-1]
            codes.add(mention.code)
            groups[-1] = (codes, joined or bool(gap.replace(",", "").strip()))
        else:
            groups.append(({mention.code}, False))
        previous_end = mention.end
    return [codes if joined else set() for codes, joined in groups]


def heading_states(story: StoryView) -> tuple[str, ...]:
    """Participants, then mentioned states listed with them in the headline."""
    states = list(story.participants)
    if story.mentioned and story.participants:
        for group in listed_together(story.title):
            if group & set(story.participants):
                states += [c for c in story.mentioned if c in group and c not in states]
    return tuple(states)
