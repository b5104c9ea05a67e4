"""Does this story match this watch: the one pure decision, for a chat, a named list or /digest.

Rule (in this order):

1. scope ``cooperation`` (the default) needs ``story.is_defence_cooperation``; ``all`` doesn't;
2. any ``exclude`` phrase of the watch occurring in title + summary vetoes the story;
3. the story matches if a watched country is among ``story.participants`` or a watched
   ``keyword`` phrase occurs in title + summary as whole words (case/accent-insensitive).

Phrases are found as word n-grams of the folded text (n up to the longest phrase looked for),
so a caller matching many watches finds the story's phrases once (``found_phrases`` over all
their phrases) and passes them to ``matches``; alone, ``matches`` finds the watch's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass

from monitors.domain import StoryForAlert
from monitors.subscriptions import fold_words


@dataclass(frozen=True, slots=True)
class ChatWatch:
    """What one chat (or named list) watches, as plain data for ``matches``."""

    chat_id: int
    scope: str
    countries: frozenset[str]
    keywords: frozenset[str]
    excludes: frozenset[str]


def phrases_in(words: Sequence[str], known: Set[str], max_words: int) -> set[str]:
    """The known phrases (space-joined folded words) that occur in ``words`` as n-grams."""
    found: set[str] = set()
    if not known:
        return found
    for start in range(len(words)):
        for n in range(1, min(max_words, len(words) - start) + 1):
            gram = " ".join(words[start : start + n])
            if gram in known:
                found.add(gram)
    return found


def story_words(story: StoryForAlert) -> list[str]:
    # A sentinel between title and summary keeps a phrase from spanning the two.
    return [*fold_words(story.title), "\x00", *fold_words(story.summary)]


def longest_phrase(phrases: Iterable[str]) -> int:
    """How many words the longest phrase has (0 for none)."""
    return max((p.count(" ") + 1 for p in phrases), default=0)


def found_phrases(
    story: StoryForAlert, phrases: Set[str], max_words: int | None = None
) -> set[str]:
    """Which of ``phrases`` occur in the story's title or summary (no folding if none)."""
    if not phrases:
        return set()
    longest = longest_phrase(phrases) if max_words is None else max_words
    return phrases_in(story_words(story), phrases, longest)


def matches(
    story: StoryForAlert, watch: ChatWatch, found: Set[str] | None = None
) -> tuple[str, ...]:
    """The terms by which ``story`` matches ``watch`` ('country:AZ', 'keyword:s 400'), or ().

    ``found``: the story's phrases already found (a superset of the watch's); else found here.
    """
    if watch.scope != "all" and not story.is_defence_cooperation:
        return ()
    if found is None:
        found = found_phrases(story, watch.keywords | watch.excludes)
    if watch.excludes & found:
        return ()
    countries = sorted(watch.countries & set(story.participants))
    keywords = sorted(watch.keywords & found)
    return (*(f"country:{c}" for c in countries), *(f"keyword:{k}" for k in keywords))
