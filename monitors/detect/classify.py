# ruff: noqa: RUF001 - multilingual examples are intended
"""Defence-cooperation classifier: pure, deterministic, explainable.

``classify(title, summary, language, source_country)`` answers whether a news item reports
defence or military cooperation between two or more states, which states take part, and what
kind of cooperation.  ``source_country`` is the state a ministry's or armed force's own feed
speaks for (``country`` of the feed), if any.

Rules, in order
    1. Countries: the gazetteer (monitors.detect.countries) finds every state named.  A capital
       at the very start of the lead followed by ``,`` ``(`` ``:`` or a dash is a *dateline* ("BAKU,
       Azerbaijan, Oct 29 -"), as is a country named right after it: datelines say where the
       story was filed, not who took part.  A state named right after a background cue
       ("on the border with Armenia", "mediated by", "against") is only *mentioned*.
       A territory that belongs to a state counts as that state (config/relations.toml
       ``[territories]``: Hong Kong -> China).
    2. Participants: the remaining states named in the headline or the lead's first sentence,
       in order of appearance; when fewer than two are there, the next ones from the rest of
       the text.  Every other state found is ``mentioned``.  Except for exercises (where every
       named state counts), a positive keeps the two states most central to the story
       (headline first, then most often named, then first named), unless the headline - or,
       when the headline names no two states, the lead's first sentence - writes three or more
       states as one list ("Estonia, Latvia and Lithuania signed ..."): the list are the parties.
       Source country: when the item comes from a feed that speaks for a state and the text
       speaks of its own forces without naming it ("Airmen trained with Mongolian
       counterparts"; ``[own_forces]`` cues), that state takes part
       (``source:US(own forces: airmen)``).
    3. Topic: terms from config/lexicon.toml (per language) add weight to groups - ``mil``
       (military subject), ``coop`` (cooperation between states), the acts (``exercise``,
       ``arms_transfer``, ``agreement``/``signing``, ``meeting_visit``, ``industry``,
       ``training``, ``aid``, ``other`` = port calls) and ``neg:*`` (war, trade, police,
       elections, disasters, ... as the main event); when the headline names an explicit act,
       negatives after it are background ("joint production of shells amid blockade fears").
       Relation groups (``hostile``, ``refusal``, ``protest``, ``competition``,
       ``multinational``) add no weight; rules 4-6 read them.  Two states written as a pair
       ("X and Y", "X-Y", "中巴") or linked by a short clause ("X delivers jets to Y", "X's
       minister meets Y's chief") add a small ``coop`` weight.  On a feed that speaks for a
       state taking part, another state named as a *force* ("trained with Italian
       paratroopers", "hosted members of the Ghana Navy", "la marine indienne"; nouns in
       config/relations.toml ``[partner_forces]``) is a partner: two forces in one story add
       ``coop`` (``[scoring] pair.partner_force``), ``partner:US-IT(army; +0.20,coop)``, when
       the text names an act of some weight (>= 0.2: "received Polish Army medals at a
       ceremony" is no cue).  A
       place is no partner ("drills in Okinawa, Japan", "troops in Estonia", "the Kenyan
       bush"), so a force's own drills abroad stay single-state.
       score = min(mil, cap) + min(coop, cap) + min(acts, cap) + negatives, clipped to [0, 1].
    4. Caps (the numbers are ``config/lexicon.toml [scoring]``: ``capped`` 0.45,
       ``capped_not_military`` 0.4): fewer than two participant states -> at most 0.45
       ("single country -> not cooperation"); no military term -> at most 0.4; only weak
       visits/drills and no cue of two sides acting together -> at most 0.45 (a minister
       visiting troops abroad, drills near a rival); no act and no strong cooperation cue ->
       at most 0.45; a weak act (< 0.2) and no cooperation cue -> at most 0.45 ("Babcock
       bullish on defence contracts").  A named multinational exercise (RIMPAC) lifts the
       single-country cap.
    5. Main event: when the headline (or, without one, the lead's first sentence) reports a
       refusal or denial ("rejects meeting", "denies cooperation", "orders troops to leave") or
       a protest ("protests arms sale") -> at most 0.45, unless an explicit act comes before it
       in the headline (the first verb is the main event: "pledges military aid to Ukraine,
       condemns Russian strikes"); hostility (a launch, strikes, a build-up, nuclear talks)
       or sellers competing ("vie to sell") -> at most 0.45 unless the headline itself names
       an explicit act (a sale, co-production, training, aid, a port call, a signed agreement
       or a joint exercise).
    6. Rivals: when the two central participants are a pair in active conflict or hostility
       (config/relations.toml ``[rivalries]``), the item needs an explicit act of cooperation
       anywhere in it; talks, meetings and lone drills are not enough -> at most 0.45.  Every
       cap of rules 5-6 is written into the evidence (``rule:rivals IR-US need an explicit act
       of cooperation``), so nothing is dropped silently.
    7. Verdict: score >= threshold (0.5).
    8. Type (positives only), judged from the headline if it names an act, else from the
       lead's first sentence, else from everything: a signed/approved document ->
       ``agreement`` (unless an arms contract or co-production outweighs it); otherwise strong
       co-production -> ``industry``, donation/aid -> ``aid``, port call -> ``other``;
       otherwise the act with most weight (an unsigned agreement counts as talks; meetings
       lose ties).

Every step leaves an evidence string, e.g. ``term:joint exercise(+0.45,exercise)``,
``countries:AZ,CN``, ``rule:single country -> not cooperation``.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from config import data_path
from monitors.detect.countries import (
    CountryMention,
    Gazetteer,
    default_gazetteer,
    fold,
    has_cjk,
    word_tokens,
)
from monitors.detect.data import read_toml
from monitors.detect.letters import MARK
from monitors.detect.relations import Relations, default_relations
from monitors.domain import COOPERATION_TYPES, Classification
from monitors.errors import ConfigError

__all__ = ["Classifier", "Lexicon", "classify", "default_classifier"]

ACT_GROUPS = frozenset(COOPERATION_TYPES) | {"signing"}
# Groups that describe the relation between the states rather than an act of cooperation
# (rules 5-6 of the module doc); they add nothing to the score.
RELATION_GROUPS = frozenset({"hostile", "refusal", "protest", "competition", "multinational"})

# --------------------------------------------------------------------------------------------
# Lexicon

_GAP = "~"  # in a term: up to _GAP_WORDS arbitrary words
_GAP_WORDS = 3
_CACHE_LIMIT = 100_000  # memoised words; cleared when full, so memory stays bounded
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class _Term:
    surface: str
    language: str
    words: tuple[tuple[str, bool], ...]  # (folded word, is_prefix)
    contributions: tuple[tuple[str, float], ...]  # (group, weight)
    has_gap: bool = False  # contains "~"


@dataclass(frozen=True, slots=True)
class TermHit:
    """One lexicon term found in a text."""

    term: str  # as written in the lexicon ("joint ~ drill*")
    start: int
    contributions: tuple[tuple[str, float], ...]
    matched: str = ""  # the words of the text it matched ("joint naval drills")

    def evidence(self) -> str:
        parts = " ".join(f"{weight:+.2f},{group}" for group, weight in self.contributions)
        return f"term:{self.matched or self.term}({parts})"


@dataclass(frozen=True, slots=True)
class Scoring:
    """The numbers of rules 3-8 (``config/lexicon.toml [scoring]``) and the languages whose
    terms a text in a language also tries (``[languages]``)."""

    threshold: float
    caps: dict[str, float]
    capped: float  # a score held back by rules 4-6 stays just below the threshold
    capped_not_military: float
    pair_coop: float
    pair_exercise: float
    type_priority: tuple[str, ...]
    fallbacks: dict[str, tuple[str, ...]]
    partner_force: float

    @classmethod
    def parse(cls, path: Path, data: dict[str, Any]) -> Scoring:
        try:
            scoring = data["scoring"]
            return cls(
                threshold=float(scoring["threshold"]),
                caps={group: float(scoring["cap"][group]) for group in ("mil", "coop", "act")},
                capped=float(scoring["capped"]),
                capped_not_military=float(scoring["capped_not_military"]),
                pair_coop=float(scoring["pair"]["coop"]),
                pair_exercise=float(scoring["pair"]["exercise"]),
                type_priority=tuple(scoring["type_priority"]),
                fallbacks={lang: tuple(tried) for lang, tried in data["languages"].items()},
                partner_force=float(scoring["pair"]["partner_force"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: [scoring] or [languages]: missing or bad {exc}") from exc


class Lexicon:
    """Topic terms per language (config/lexicon.toml), indexed for one pass over the words."""

    def __init__(
        self,
        terms: list[_Term],
        scoring: Scoring,
        context: dict[str, list[str]],
        context_after: dict[str, list[str]] | None = None,
    ) -> None:
        self.scoring = scoring
        self.threshold = scoring.threshold
        self.caps = scoring.caps
        self.languages = frozenset(term.language for term in terms)
        self._exact: dict[str, list[_Term]] = {}
        self._prefix: dict[str, list[_Term]] = {}
        self._cjk: list[_Term] = []
        for term in terms:
            if has_cjk(term.surface):
                self._cjk.append(term)
                continue
            first, is_prefix = term.words[0]
            (self._prefix if is_prefix else self._exact).setdefault(first, []).append(term)
        self._prefix_lengths = sorted({len(key) for key in self._prefix})
        self._candidate_cache: dict[frozenset[str], dict[str, tuple[_Term, ...]]] = {}
        self._context = {lang: _context_regex(cues) for lang, cues in context.items()}
        self._context_after = {
            lang: _context_after_regex(cues) for lang, cues in (context_after or {}).items()
        }

    @classmethod
    def load(cls, path: Path | None = None) -> Lexicon:
        path = path or data_path("lexicon.toml")
        data = read_toml(path, "lexicon")
        terms = [
            _parse_term(path, language, surface, spec)
            for language, table in data.get("terms", {}).items()
            for surface, spec in table.items()
        ]
        shipped = data_path("lexicon.toml")
        if path != shipped and not ("scoring" in data and "languages" in data):
            # a lexicon of terms only (tests, experiments) scores like the shipped one
            scoring = default_lexicon().scoring
        else:
            scoring = Scoring.parse(path, data)
        return cls(terms, scoring, data.get("context", {}), data.get("context_after", {}))

    def languages_for(self, language: str | None) -> frozenset[str]:
        if language is None:
            return self.languages
        wanted = self.scoring.fallbacks.get(language.lower().split("-")[0])
        return frozenset(wanted) if wanted else self.languages

    def match(
        self,
        text: str,
        folded: str,
        language: str | None,
        tokens: list[tuple[str, int, int]] | None = None,
    ) -> list[TermHit]:
        """Every term of the text's languages found in it, each once, by position."""
        allowed = self.languages_for(language)
        if tokens is None:
            tokens = word_tokens(folded)
        words = [tok for tok, _, _ in tokens]
        seen: set[str] = set()
        hits: list[TermHit] = []
        cache = self._candidate_cache.setdefault(allowed, {})
        for i, word in enumerate(words):
            candidates = cache.get(word)
            if candidates is None:
                candidates = self._candidates(word, allowed, cache)
            for term in candidates:
                if term.surface in seen:
                    continue
                end = _match_end(term, words, i)
                if end != -1:
                    seen.add(term.surface)
                    matched = _WS_RE.sub(" ", text[tokens[i][1] : tokens[end - 1][2]]).lower()
                    hits.append(TermHit(term.surface, tokens[i][1], term.contributions, matched))
        if self._cjk and has_cjk(text):
            for term in self._cjk:
                if term.language in allowed and term.surface not in seen:
                    position = text.find(term.surface)
                    if position != -1:
                        seen.add(term.surface)
                        hits.append(
                            TermHit(term.surface, position, term.contributions, term.surface)
                        )
        hits.sort(key=lambda hit: (hit.start, hit.term))
        return hits

    def _candidates(
        self, word: str, allowed: frozenset[str], cache: dict[str, tuple[_Term, ...]]
    ) -> tuple[_Term, ...]:
        """Terms of ``allowed`` languages whose first word fits ``word``; memoised in
        ``cache`` because news vocabulary repeats (cleared when full to bound memory)."""
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        found = list(self._exact.get(word, ()))
        for length in self._prefix_lengths:
            if length > len(word):
                break
            found.extend(self._prefix.get(word[:length], ()))
        result = tuple(term for term in found if term.language in allowed)
        cache[word] = result
        return result

    def is_background(self, folded_before: str, language: str | None) -> bool:
        """True when the words just before a country mark it as background, not a party."""
        for lang in self.languages_for(language) & self._context.keys():
            if self._context[lang].search(folded_before):
                return True
        return False

    def is_background_after(self, folded_after: str, language: str | None) -> bool:
        """True when the words right after a country mark it as background: the postpositions
        of Urdu and Hindi ("انڈیا سے جنگ" war with India; ``[context_after]``)."""
        base = language.lower().replace("_", "-").split("-")[0] if language else None
        tried = self.languages_for(language)
        return any(
            pattern.match(folded_after)
            for lang, pattern in self._context_after.items()
            if base is None or lang == base or lang in tried
        )


def _match_end(term: _Term, words: list[str], i: int) -> int:
    """Index just past the words ``term`` matches at ``words[i]``, or -1."""
    if term.has_gap:
        return _match_from(term.words, 0, words, i)
    end = i + len(term.words)
    if end > len(words):
        return -1
    for offset, (expected, is_prefix) in enumerate(term.words):
        word = words[i + offset]
        if not (word.startswith(expected) if is_prefix else word == expected):
            return -1
    return end


def _match_from(pattern: tuple[tuple[str, bool], ...], k: int, words: list[str], i: int) -> int:
    """End of a match of pattern[k:] at words[i:] or -1; "~" skips up to _GAP_WORDS words
    ("joint ~ drill*" matches "joint counter-terrorism drills"), fewest first."""
    if k == len(pattern):
        return i
    expected, is_prefix = pattern[k]
    if expected == _GAP:
        for skip in range(_GAP_WORDS + 1):
            if (
                i + skip <= len(words)
                and (end := _match_from(pattern, k + 1, words, i + skip)) != -1
            ):
                return end
        return -1
    if i >= len(words):
        return -1
    word = words[i]
    if not (word.startswith(expected) if is_prefix else word == expected):
        return -1
    return _match_from(pattern, k + 1, words, i + 1)


def _parse_term(path: Path, language: str, surface: str, spec: object) -> _Term:
    if not isinstance(spec, str):
        raise ConfigError(f"{path}: terms.{language}.{surface!r} must be a string like 'mil 0.2'")
    contributions: list[tuple[str, float]] = []
    for part in spec.split(","):
        try:
            group, weight = part.split()
            contributions.append((group, float(weight)))
        except ValueError as exc:
            raise ConfigError(
                f"{path}: terms.{language}.{surface!r}: bad contribution {part.strip()!r}"
            ) from exc
        if group not in ACT_GROUPS | RELATION_GROUPS | {"mil", "coop"} and not group.startswith(
            "neg:"
        ):
            raise ConfigError(f"{path}: terms.{language}.{surface!r}: unknown group {group!r}")
    if has_cjk(surface):
        return _Term(surface, language, ((surface, False),), tuple(contributions))
    words: list[tuple[str, bool]] = []
    for raw in surface.split():
        if raw == _GAP:
            words.append((_GAP, False))
            continue
        is_prefix = raw.endswith("*")
        pieces = [tok for tok, _, _ in word_tokens(fold(raw.rstrip("*")))]
        words.extend((piece, False) for piece in pieces[:-1])
        if pieces:
            words.append((pieces[-1], is_prefix))
    if not words or words[0][0] == _GAP or words[-1][0] == _GAP:
        raise ConfigError(f"{path}: terms.{language}.{surface!r} must start and end with a word")
    has_gap = any(word == _GAP for word, _ in words)
    return _Term(surface, language, tuple(words), tuple(contributions), has_gap)


def _context_after_regex(cues: list[str]) -> re.Pattern[str]:
    """A cue right after the mention (spaces only between), ending at a word's end."""
    parts = [r"\s+".join(re.escape(fold(word)) for word in cue.split()) for cue in cues]
    alternation = "|".join(parts) or r"(?!x)x"
    return re.compile(rf"\s*(?:{alternation})(?!\w|{MARK})")


def _context_regex(cues: list[str]) -> re.Pattern[str]:
    """Cue, then at most ~4 short words (no sentence end, no other country) up to the mention."""
    parts = []
    for cue in cues:
        words = [
            re.escape(fold(w.rstrip("*"))) + (r"\w*" if w.endswith("*") else "")
            for w in cue.split()
        ]
        parts.append(r"\W+".join(words))
    alternation = "|".join(parts) or r"(?!x)x"
    return re.compile(rf"(?:^|\W)(?:{alternation})(?:\W+[\w'-]+){{0,4}}?\W*$")


# --------------------------------------------------------------------------------------------
# Classifier


_PAIR_GAP = re.compile(
    r"(?:'s)?\s*(?:,|&|/|-|–|—|and|и|və|ve|ilə|ile|et|with|с|со)?\s*(?:the\s+|la\s+|le\s+|les\s+|l')?$"
)
# "X sells jets to Y", "Y buys drones from X", "X's minister meets Y's chief", "X получил ...
# от Y": a short clause ending in a preposition or a meeting verb links the second state.
_DIRECTED_GAP = re.compile(
    r"[^.;:!?\n]{0,60}?(?<!\w)(?:to|from|with|for|a|au|aux|de|d'|от|из|для|у|с|со"
    r"|meets|met|received|receives|hosted|hosts|welcomed|welcomes|visited|visits|called on"
    r"|calls on|rencontre|a rencontre|a recu|recoit|принял|посетил)\s+"
    r"(?:the\s+|la\s+|le\s+|les\s+|l')?(?:[\w-]+\s+){0,2}?$"
)
_PARTNER_MIN_ACT = 0.2  # acts a partner force needs to count as a cue (rule 3)
_MAIN_EVENT_GROUPS = ("refusal", "protest", "hostile", "competition")
_ONE_SIDED_ACTS = frozenset({"meeting_visit", "exercise"})
_TWO_SIDED_ACTS = frozenset({"arms_transfer", "agreement", "industry", "training", "aid", "other"})
_DATELINE_AFTER = re.compile(r"\s*(?:[,(:/–—-]|\.\s*[A-ZА-ЯЁ/]{3,})")
_SENTENCE_END = re.compile(r"(?<![A-Z])[.!?。！？](?:\s+|$)|\n")


class Classifier:
    """Defence-cooperation classifier over a gazetteer and a lexicon (see module doc)."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        lexicon: Lexicon | Path | None = None,
        relations: Relations | None = None,
    ) -> None:
        self.gazetteer = gazetteer
        self.lexicon = lexicon if isinstance(lexicon, Lexicon) else Lexicon.load(lexicon)
        self.relations = relations or default_relations()

    def classify(
        self,
        title: str,
        summary: str = "",
        language: str | None = None,
        source_country: str | None = None,
    ) -> Classification:
        title, summary = title.strip(), summary.strip()
        text = f"{title}\n{summary}" if title else summary
        lead_start = len(title) + 1 if title else 0
        folded = fold(text)
        tokens = word_tokens(folded)
        evidence: list[str] = []

        mentions = self._roles(text, folded, tokens, lead_start, language)
        participants, mentioned = self._participants(text, lead_start, mentions)
        source = (source_country or "").strip().upper() or None
        if source and source not in participants:
            cue = self.relations.own_forces(folded, language)
            if cue is not None:
                # A force's own feed speaks of its own forces without naming its state.
                participants.insert(0, source)
                mentioned = [code for code in mentioned if code != source]
                evidence.append(f"source:{source}(own forces: {cue})")
        if participants:
            evidence.append("countries:" + ",".join(participants))
        if mentioned:
            evidence.append("mentioned:" + ",".join(mentioned))

        hits = self.lexicon.match(text, folded, language, tokens)
        evidence.extend(hit.evidence() for hit in hits)
        groups = _group_sums(hits)
        if lead_start and _explicit_act(_group_sums([h for h in hits if h.start < lead_start])):
            # The headline names an act of cooperation: wars and blockades in the lead are
            # its background ("... joint production of shells amid blockade fears").
            kept = [h for h in hits if h.start < lead_start or not _is_negative(h)]
            if len(kept) < len(hits):
                groups = _group_sums(kept)
                evidence.append("rule:headline names an act -> later negatives are background")
        pair = _coordinated_pair(folded, mentions)
        partner = (
            self._partner_force(text, folded, mentions, source, participants, language)
            if source is not None and source in participants
            else None
        )
        if pair:
            weight = self.lexicon.scoring.pair_coop
            groups["coop"] = groups.get("coop", 0.0) + weight
            evidence.append(f"pair:{pair[0]}-{pair[1]}(+{weight:.2f},coop)")
            if 0 < groups.get("exercise", 0.0) < 0.3:
                # "France and India held the Varuna exercise": a pair running drills is joint.
                weight = self.lexicon.scoring.pair_exercise
                groups["exercise"] += weight
                evidence.append(f"rule:pair + exercise -> joint(+{weight:.2f})")
        if partner and sum(v for g, v in groups.items() if g in ACT_GROUPS) >= _PARTNER_MIN_ACT:
            # Two forces in one story act together only when an act is named ("receive
            # Polish Army medals at a ceremony" is no cue): as in the weak-act rule of _score.
            weight = self.lexicon.scoring.partner_force
            groups["coop"] = groups.get("coop", 0.0) + weight
            evidence.append(f"partner:{source}-{partner[0]}({partner[1]}; +{weight:.2f},coop)")
        score = self._score(groups, len(participants), evidence)
        central = (
            _main_pair(participants, mentioned, mentions, lead_start)[0]
            if len(participants) > 2
            else participants
        )
        score = self._relations(score, hits, groups, central, text, lead_start, evidence)
        positive = score >= self.lexicon.threshold
        cooperation_type = (
            _cooperation_type(
                _type_groups(hits, text, lead_start), self.lexicon.scoring.type_priority
            )
            if positive
            else None
        )
        several = len(participants) > 2 and cooperation_type != "exercise"
        listed = _headline_list(folded, mentions, lead_start) if several else set()
        where = "headline"
        if several and len(listed) < 2:
            # No state pair in the headline ("Baltic states sign ..."): the lead's first
            # sentence may list the parties ("Estonia, Latvia and Lithuania signed ...").
            listed = _headline_list(folded, mentions, _first_sentence_end(text, lead_start))
            where = "lead"
        if several and len(listed) > 2:
            # "Defence ministers of Japan, UK, Italy meet": the headline lists every party.
            mentioned = [code for code in participants if code not in listed] + mentioned
            participants = [code for code in participants if code in listed]
            evidence.append(f"rule:{where} lists the parties " + ",".join(participants))
        elif several:
            participants, mentioned = _main_pair(participants, mentioned, mentions, lead_start)
            evidence.append("rule:bilateral act -> two main states " + ",".join(participants))
        if cooperation_type:
            evidence.append(f"type:{cooperation_type}")
        evidence.append(f"score:{score:.2f}")
        return Classification(
            defence_cooperation=positive,
            score=score,
            participants=tuple(participants),
            mentioned=tuple(mentioned),
            cooperation_type=cooperation_type,
            evidence=tuple(evidence),
        )

    # ---- countries -------------------------------------------------------------------------

    def _roles(
        self,
        text: str,
        folded: str,
        tokens: list[tuple[str, int, int]],
        lead_start: int,
        language: str | None,
    ) -> list[CountryMention]:
        """Mentions with kind set to 'dateline' or 'background' where the context says so."""
        mentions = self.gazetteer.find_folded(text, folded, tokens, language)
        dateline_end = _dateline_end(text, lead_start, mentions)
        result = []
        for mention in mentions:
            if (state := self.relations.territory_of(mention.code)) != mention.code:
                mention = replace(mention, code=state)
            if lead_start <= mention.start < dateline_end:
                mention = replace(mention, kind="dateline")
            elif self.lexicon.is_background(
                folded[max(0, mention.start - 60) : mention.start], language
            ) or self.lexicon.is_background_after(folded[mention.end : mention.end + 40], language):
                mention = replace(mention, kind="background")
            result.append(mention)
        return result

    def _partner_force(
        self,
        text: str,
        folded: str,
        mentions: list[CountryMention],
        source: str | None,
        participants: list[str],
        language: str | None,
    ) -> tuple[str, str] | None:
        """Rule 3: on a feed that speaks for ``source``, the first other participant named as
        a force ("trained with Italian paratroopers", "la marine indienne"), with its noun."""
        for mention in mentions:
            if (
                mention.code == source
                or mention.code not in participants
                or mention.kind in ("dateline", "background")
            ):
                continue
            noun = self.relations.partner_force(text, folded, mention.start, mention.end, language)
            if noun is not None:
                return mention.code, noun
        return None

    @staticmethod
    def _participants(
        text: str, lead_start: int, mentions: list[CountryMention]
    ) -> tuple[list[str], list[str]]:
        lead_end = _first_sentence_end(text, lead_start)
        order: list[str] = []
        in_lead: set[str] = set()
        for mention in mentions:
            if mention.kind in ("dateline", "background"):
                continue
            if mention.code not in order:
                order.append(mention.code)
            if mention.start < lead_end:
                in_lead.add(mention.code)
        participants = [code for code in order if code in in_lead]
        for code in order:
            if len(participants) >= 2:
                break
            if code not in participants:
                participants.append(code)
        everyone = list(dict.fromkeys(m.code for m in mentions))
        mentioned = [code for code in everyone if code not in participants]
        return participants, mentioned

    # ---- scoring ---------------------------------------------------------------------------

    def _relations(
        self,
        score: float,
        hits: list[TermHit],
        groups: dict[str, float],
        participants: list[str],
        text: str,
        lead_start: int,
        evidence: list[str],
    ) -> float:
        """Rules 5-6: who does what to whom.  Each cap leaves the reason in the evidence."""
        rivals = self.relations.rival_pair(participants)
        if rivals is None and not any(group in groups for group in _MAIN_EVENT_GROUPS):
            return score  # the common case: nothing hostile anywhere, no rivals
        limit = lead_start if lead_start else _first_sentence_end(text, 0)
        headline = _group_sums([hit for hit in hits if hit.start < limit])
        headline_terms = {
            group: hit.matched or hit.term
            for hit in hits
            if hit.start < limit
            for group, _ in hit.contributions
        }
        reasons = []
        for group in _MAIN_EVENT_GROUPS:
            if group in ("hostile", "competition"):
                overridden = _explicit_act(headline)
            else:
                overridden = _act_before(hits, limit, group)
            if headline.get(group, 0) > 0 and not overridden:
                reasons.append(
                    f"rule:main event is {group} ({headline_terms[group]}) -> not cooperation"
                )
        if rivals and not _explicit_act(groups):
            reasons.append(
                f"rule:rivals {'-'.join(sorted(rivals))} need an explicit act of cooperation"
            )
        evidence.extend(reasons)
        return min(score, self.lexicon.scoring.capped) if reasons else score

    def _score(self, groups: dict[str, float], n_states: int, evidence: list[str]) -> float:
        caps = self.lexicon.caps
        capped, not_military = self.lexicon.scoring.capped, self.lexicon.scoring.capped_not_military
        mil = min(groups.get("mil", 0.0), caps["mil"])
        coop = min(groups.get("coop", 0.0), caps["coop"])
        acts = min(sum(v for g, v in groups.items() if g in ACT_GROUPS), caps["act"])
        negative = sum(v for g, v in groups.items() if g.startswith("neg:"))
        score = max(0.0, min(1.0, mil + coop + acts + negative))
        if n_states == 1 and groups.get("multinational", 0) >= 0.3:
            evidence.append("rule:named multinational exercise -> several states")
        elif n_states < 2 and score > capped:
            score = capped
            evidence.append("rule:single country -> not cooperation")
        if mil <= 0 and score > not_military:
            score = not_military
            evidence.append("rule:no military term -> not defence")
        # Visits and drills happen alone too (a minister visiting troops abroad, drills near a
        # rival): without any cue of two sides acting together they are not cooperation.
        one_sided = max(
            (v for g, v in groups.items() if g in _ONE_SIDED_ACTS), default=0.0
        ) < 0.3 and not any(groups.get(g, 0) > 0 for g in _TWO_SIDED_ACTS)
        if coop <= 0 and one_sided and score > capped:
            score = capped
            evidence.append("rule:no cooperation cue -> not cooperation")
        elif acts <= 0 and coop < 0.3 and score > capped:
            score = capped
            evidence.append("rule:no act of cooperation")
        elif coop <= 0 and acts < 0.2 and score > capped:
            # "Babcock bullish on defence contracts": a weak act with no cue of two sides.
            score = capped
            evidence.append("rule:weak act, no cue of two sides acting together")
        return round(score, 4)


def _is_negative(hit: TermHit) -> bool:
    return any(group.startswith("neg:") for group, _ in hit.contributions)


def _explicit_act(groups: dict[str, float]) -> bool:
    """An act only partners perform: a sale, co-production, training, aid, a port call, a
    signed agreement or a joint exercise (talks and lone drills are not enough)."""
    if any(groups.get(kind, 0) >= 0.3 for kind in _TWO_SIDED_ACTS if kind != "agreement"):
        return True
    if groups.get("exercise", 0) >= 0.3 and groups.get("coop", 0) > 0:
        return True
    return groups.get("agreement", 0) > 0 and groups.get("signing", 0) > 0


def _act_before(hits: list[TermHit], limit: int, group: str) -> bool:
    """True when the headline names an explicit act before its first ``group`` term: the
    first verb is the main event ("Australia pledges military aid to Ukraine, condemns
    Russian strikes"), the later clause its background; "China protests US arms sale" keeps
    the protest as main event."""
    first = next(
        (hit.start for hit in hits if hit.start < limit and _contributes(hit, group)), limit
    )
    return _explicit_act(_group_sums([hit for hit in hits if hit.start < first]))


def _contributes(hit: TermHit, group: str) -> bool:
    return any(g == group and weight > 0 for g, weight in hit.contributions)


def _main_pair(
    participants: list[str],
    mentioned: list[str],
    mentions: list[CountryMention],
    lead_start: int,
) -> tuple[list[str], list[str]]:
    """Two states most central to a non-exercise story: named in the headline, named most
    often, named first.  Multinational lists are kept only for exercises."""
    weight = {code: 0 for code in participants}
    for mention in mentions:
        if mention.code in weight and mention.kind not in ("dateline", "background"):
            weight[mention.code] += 3 if mention.start < lead_start else 1
    ranked = sorted(participants, key=lambda code: (-weight[code], participants.index(code)))
    keep = set(ranked[:2])
    dropped = [code for code in participants if code not in keep]
    return [code for code in participants if code in keep], dropped + mentioned


def _type_groups(hits: list[TermHit], text: str, lead_start: int) -> dict[str, float]:
    """Act weights for choosing the type.  The headline states the main event, then the
    lead's first sentence; later sentences are background ("under the agreement signed in
    2003 ...").  The first of headline, first sentence, whole text that names an act decides."""
    lead_end = _first_sentence_end(text, lead_start)
    for limit in (lead_start, lead_end):
        groups = _group_sums([hit for hit in hits if hit.start < limit])
        if any(groups.get(group, 0) > 0 for group in COOPERATION_TYPES):
            return groups
    return _group_sums(hits)


def _coordinated_pair(folded: str, mentions: list[CountryMention]) -> tuple[str, str] | None:
    """First two different states written as a pair: 'X and Y', 'X-Y', 'X, Y', '中巴', or
    linked by a short clause: 'X delivers jets to Y'."""
    usable = [m for m in mentions if m.kind not in ("dateline", "background")]
    for left, right in itertools.pairwise(usable):
        if left.code == right.code:
            continue
        if (
            left.start == right.start
            or _PAIR_GAP.match(folded, left.end, right.start)
            or _DIRECTED_GAP.match(folded, left.end, right.start)
        ):
            return left.code, right.code
    return None


def _headline_list(folded: str, mentions: list[CountryMention], lead_start: int) -> set[str]:
    """States written as one list before offset ``lead_start`` (the headline: "Japan, UK and
    Italy"), or empty."""
    usable = [
        m for m in mentions if m.start < lead_start and m.kind not in ("dateline", "background")
    ]
    best: list[str] = []
    run: list[str] = []
    for left, right in itertools.pairwise(usable):
        if not run:
            run = [left.code]
        if right.code != left.code and _PAIR_GAP.match(folded, left.end, right.start):
            run.append(right.code)
        else:
            run = []
        if len(set(run)) > len(best):
            best = list(dict.fromkeys(run))
    return set(best)


def _group_sums(hits: list[TermHit]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for hit in hits:
        for group, weight in hit.contributions:
            sums[group] = sums.get(group, 0.0) + weight
    return sums


def _cooperation_type(groups: dict[str, float], priority: tuple[str, ...]) -> str:
    """README rules: signed document > co-production > aid > port call > strongest act."""
    agreement = groups.get("agreement", 0.0)
    others = [
        groups.get(kind, 0.0)
        for kind in COOPERATION_TYPES
        if kind not in ("agreement", "meeting_visit")
    ]
    if agreement > 0 and groups.get("signing", 0) > 0 and agreement >= max(others):
        return "agreement"  # signed; an arms contract or co-production deal keeps its own type
    for kind in ("industry", "aid", "other"):
        if groups.get(kind, 0) >= 0.35:
            return kind
    # An agreement that is only discussed or planned is not the act: the talks are.
    talks = groups.get("meeting_visit", 0.0) + groups.get("agreement", 0.0)
    scored = [
        (talks if kind == "meeting_visit" else groups.get(kind, 0.0), -rank, kind)
        for rank, kind in enumerate(priority)
        if kind != "agreement"
    ]
    best = max(scored)
    if best[0] <= 0:
        return "meeting_visit" if groups.get("coop", 0) > 0 else "other"
    return best[2]


def _dateline_end(text: str, lead_start: int, mentions: list[CountryMention]) -> int:
    """End offset of a dateline at the start of the lead ('BAKU, Azerbaijan, Oct 29.'), or 0."""
    lead = text[lead_start:]
    stripped = len(lead) - len(lead.lstrip())
    first = next((m for m in mentions if m.start >= lead_start), None)
    if (
        first is None
        or first.start > lead_start + stripped
        or first.kind not in ("capital", "name")
    ):
        return 0
    if first.kind == "name" and not first.surface.isupper():
        return 0
    if not _DATELINE_AFTER.match(text, first.end):
        return 0
    end = first.end
    following = next((m for m in mentions if m.start > first.end), None)
    if following is not None and following.start - end <= 3 and following.kind == "name":
        end = following.end
    return end + 1


def _first_sentence_end(text: str, lead_start: int) -> int:
    """Offset just past the lead's first sentence (title included before it)."""
    lead = text[lead_start:]
    for match in _SENTENCE_END.finditer(lead):
        if match.start() > 25:
            return lead_start + match.end()
    return len(text)


@functools.cache
def default_lexicon() -> Lexicon:
    """The shipped lexicon (config/lexicon.toml), loaded once per process."""
    return Lexicon.load()


@functools.cache
def default_classifier() -> Classifier:
    """Classifier over the shipped gazetteer and lexicon, built once per process."""
    return Classifier(default_gazetteer(), default_lexicon(), default_relations())


def classify(
    title: str,
    summary: str = "",
    language: str | None = None,
    source_country: str | None = None,
) -> Classification:
    """Classify one news item with the shipped gazetteer, lexicon and relations (module doc);
    ``source_country`` is the state a force's or ministry's own feed speaks for."""
    return default_classifier().classify(title, summary, language, source_country)
