# ruff: noqa: RUF002 - multilingual examples are intended
"""Relations between states that the classifier needs (config/relations.toml).

Rules
    - ``rivals(a, b)``: the pair is in active conflict or open hostility; the classifier then
      demands an explicit act of cooperation between them (it never drops one silently).
    - ``territory_of(code)``: a territory that is part of a state counts as that state
      (Hong Kong -> China).
    - ``own_forces(folded, language)``: the first word by which a force's or ministry's own
      feed speaks of its own state's forces without naming it ("airmen", "our troops"), or
      None.  Cues are folded words; a trailing ``*`` matches any ending; Chinese cues are
      substrings.
    - ``partner_force(text, folded, start, end, language)``: the force noun that makes a state
      named at ``text[start:end]`` a *force* rather than a place (``[partner_forces]``):
      the noun follows the name, after at most two capitalised words ("Indonesian Air Force
      pilots", "Japan Air Self-Defense Force", "Qazaxıstan ordusu"), or stands right before
      it, joined at most by "of"/"de"/"des"/"du" and an article ("la marine indienne",
      "ВМС Индонезии", "the army of Italy").  "Troops in Estonia", "the Kenyan bush",
      "Camp Arifjan, Kuwait, marked the Army's birthday" name places, not forces.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from config import data_path
from monitors.detect.countries import fold, has_cjk
from monitors.detect.data import read_toml
from monitors.errors import ConfigError

__all__ = ["Relations", "default_relations"]


@dataclass(frozen=True)
class Relations:
    """Rivalries, territories and own-force cues, loaded once."""

    rivalries: frozenset[frozenset[str]]
    territories: dict[str, str]
    own_force_cues: dict[str, re.Pattern[str]]
    partner_after: dict[str, re.Pattern[str]] = dataclasses.field(default_factory=dict)
    partner_before: dict[str, re.Pattern[str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Relations:
        path = path or data_path("relations.toml")
        data = read_toml(path, "relations")
        pairs = data.get("rivalries", {}).get("pairs", [])
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ConfigError(f"{path}: rivalries.pairs must be pairs of ISO codes")
        rivalries = frozenset(frozenset(code.upper() for code in pair) for pair in pairs)
        territories = {k.upper(): v.upper() for k, v in data.get("territories", {}).items()}
        cues = {lang: _cue_regex(words) for lang, words in data.get("own_forces", {}).items()}
        partners = data.get("partner_forces", {})
        after = {lang: _cue_regex(words) for lang, words in partners.items()}
        before = {
            lang: re.compile(rf"(?:{_cue_regex(words).pattern}){_JOIN_BEFORE}")
            for lang, words in partners.items()
        }
        return cls(rivalries, territories, cues, after, before)

    def rivals(self, first: str, second: str) -> bool:
        return frozenset((first, second)) in self.rivalries

    def rival_pair(self, codes: list[str]) -> tuple[str, str] | None:
        """The first pair of ``codes`` that are rivals, or None."""
        for i, first in enumerate(codes):
            for second in codes[i + 1 :]:
                if self.rivals(first, second):
                    return first, second
        return None

    def territory_of(self, code: str) -> str:
        return self.territories.get(code, code)

    def own_forces(self, folded: str, language: str | None) -> str | None:
        lang = (language or "en").lower().split("-")[0]
        for key in dict.fromkeys((lang, "en")):
            pattern = self.own_force_cues.get(key)
            if pattern is not None and (match := pattern.search(folded)):
                return match.group(0).strip()
        return None

    def partner_force(
        self, text: str, folded: str, start: int, end: int, language: str | None
    ) -> str | None:
        """The force noun that makes the state named at ``text[start:end]`` a partner force
        (module doc), or None."""
        lang = (language or "en").lower().split("-")[0]
        for key in dict.fromkeys((lang, "en")):
            after = self.partner_after.get(key)
            if after is None:
                continue
            pos = end
            for _ in range(3):  # the noun, or up to two capitalised words before it
                gap = _SPACES.match(folded, pos)
                pos = gap.end() if gap else pos
                if gap is None and pos != end:
                    break
                if match := after.match(folded, pos):
                    return match.group(0).strip()
                word = _WORD.match(text, pos)
                if word is None or not word.group(0)[0].isupper():
                    break
                pos = word.end()
            if match := self.partner_before[key].search(folded, max(0, start - 60), start):
                return match.group(0).strip()
        return None


_SPACES = re.compile(r"[ \t]+")
_WORD = re.compile(r"[^\W\d_][\w'-]*(?=[ \t])")
# Between a force noun and the state after it: nothing, or "of"/"de"/"des"/"du" and an article.
_JOIN_BEFORE = r"(?:\s+(?:of|de|des|du))?(?:\s+(?:the|la|le|les))?\s*(?:\s|l'|d')$"


def _cue_regex(words: list[str]) -> re.Pattern[str]:
    parts = []
    for cue in words:
        pattern = r"\s+".join(
            re.escape(piece.rstrip("*")) + (r"\w*" if piece.endswith("*") else "")
            for piece in fold(cue).split()
        )
        parts.append(pattern if has_cjk(cue) else rf"(?<!\w){pattern}(?!\w)")
    return re.compile("|".join(parts) or r"(?!x)x")


@functools.cache
def default_relations() -> Relations:
    """The shipped relations, loaded once per process."""
    return Relations.load()
