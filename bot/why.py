"""Why an alert was sent, in a reader's words: pure, rules in ``config/why.toml``.

``reasons(cooperation_type, evidence)`` turns the classifier's evidence into at most three
short phrases ("defence ministers met", "military cooperation discussed"), each once.

The evidence strings are read tolerantly, by what they say rather than their exact format:
an item is a *term* when it names lexicon groups (``mil``, ``coop``, ``signing`` ... as
whole tokens, e.g. in ``term:meet(+0.15,meeting_visit)``); its *words* are what stands
between its first ``:`` and its first ``(`` (or the whole item). Anything unrecognised is
ignored, so a change of spelling loses detail, never the alert. The cooperation type comes
from the story itself. ``raw_lines`` gives the evidence as stored, deduplicated, for ``/why``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from config import data_path

MAX_REASONS = 3
_TOKEN = re.compile(r"[a-z_]+(?::[a-z_]+)?")
_WORDS = re.compile(r"^[^:(]*:([^(]*)\(")


@dataclass(frozen=True, slots=True)
class Rule:
    say: str
    type: str | None = None
    groups: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()
    unless: frozenset[str] = frozenset()  # cooperation types that already say it

    def holds(self, kind: str | None, groups: set[str], texts: Sequence[str]) -> bool:
        if self.type is not None and self.type != kind:
            return False
        if kind in self.unless:
            return False
        if self.groups and not self.groups & groups:
            return False
        return not self.words or any(word in text for word in self.words for text in texts)


@dataclass(frozen=True, slots=True)
class Rules:
    acts: tuple[Rule, ...]
    signs: tuple[Rule, ...]
    groups: frozenset[str]  # every group a rule names: what counts as a term's group


def _rule(entry: dict[str, object]) -> Rule:
    return Rule(
        say=str(entry["say"]),
        type=str(entry["type"]) if "type" in entry else None,
        groups=frozenset(str(g) for g in entry.get("groups", ())),  # type: ignore[attr-defined]
        words=tuple(str(w).casefold() for w in entry.get("words", ())),  # type: ignore[attr-defined]
        unless=frozenset(str(t) for t in entry.get("unless", ())),  # type: ignore[attr-defined]
    )


@functools.cache
def default_rules() -> Rules:
    table = tomllib.loads(data_path("why.toml").read_text(encoding="utf-8"))
    acts = tuple(_rule(e) for e in table.get("act", []))
    signs = tuple(_rule(e) for e in table.get("sign", []))
    named = {g for rule in (*acts, *signs) for g in rule.groups}
    named |= {rule.type for rule in acts if rule.type}
    return Rules(acts, signs, frozenset(named | {"mil", "coop"}))


@dataclass(frozen=True, slots=True)
class Terms:
    """What the evidence says was found: the groups fed, and the matched texts per group."""

    groups: set[str]
    texts: dict[str, list[str]]

    def texts_of(self, groups: Iterable[str] | None) -> list[str]:
        if groups is None:
            return [t for texts in self.texts.values() for t in texts]
        return [t for g in groups for t in self.texts.get(g, [])]


def read_terms(evidence: Iterable[str], known_groups: frozenset[str]) -> Terms:
    groups: set[str] = set()
    texts: dict[str, list[str]] = {}
    for item in evidence:
        item = str(item)
        found = {t for t in _TOKEN.findall(item.lower()) if t in known_groups}
        if not found:
            continue
        match = _WORDS.match(item)
        text = (match.group(1) if match else item).casefold().strip()
        groups |= found
        for group in found:
            texts.setdefault(group, []).append(text)
    return Terms(groups, texts)


def reasons(
    cooperation_type: str | None, evidence: Iterable[str], rules: Rules | None = None
) -> list[str]:
    """At most three reader-facing reasons, the act first, each once."""
    rules = rules or default_rules()
    terms = read_terms(evidence, rules.groups)
    said: list[str] = []
    for rule in rules.acts:
        # An act's words are looked for in every matched term ("defence ministers" is mil).
        if rule.holds(cooperation_type, terms.groups, terms.texts_of(None)):
            said.append(rule.say)
            break
    for rule in rules.signs:
        texts = terms.texts_of(rule.groups or None)
        if rule.holds(cooperation_type, terms.groups, texts) and rule.say not in said:
            said.append(rule.say)
    return said[:MAX_REASONS]


def raw_lines(evidence: Iterable[str]) -> list[str]:
    """The evidence as stored, each item once, in order."""
    return list(dict.fromkeys(str(e) for e in evidence))
