"""What a word is written with, in every script: letters and the combining marks on them.

Python's ``\\w`` counts letters and digits but not the combining marks of Unicode categories
Mn and Mc, and most Indic scripts write their vowels with them: Devanagari "भारत" is भ + ा + र
+ त, so ``[^\\W\\d_]+`` finds "भ" and "रत", and "पाकिस्तान" falls into five pieces. Urdu and
Arabic diacritics (the izafat zer of "وزیرِ", the superscript alef of "اعلیٰ"), Kannada,
Bengali, Tamil and Thai vowel signs are marks too. The word patterns of the detection core
(``countries.py`` tokens, ``textfeatures.py`` tokens) are built from the ones below, which
let a word carry the marks written on its letters.

A word still starts with a letter and only marks are added, so text without combining marks
(Latin, Cyrillic, Greek, Arabic without diacritics, CJK) is tokenised exactly as before.
"""

from __future__ import annotations

import itertools
import unicodedata

__all__ = ["ALNUM_WORD", "LETTER_WORD", "MARK"]


def _mark_class() -> str:
    """A character class of every code point of categories Mn and Mc (as ranges)."""
    # Marks live in planes 0 and 1 and among the variation selectors of plane 14.
    points = itertools.chain(range(0x20000), range(0xE0100, 0xE01F0))
    ranges: list[list[int]] = []
    for point in points:
        if unicodedata.category(chr(point)) in ("Mn", "Mc"):
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1][1] = point
            else:
                ranges.append([point, point])
    # no mark is a character that is special inside a class ("]", "\\", "^", "-")
    body = "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)
    return f"[{body}]"


MARK = _mark_class()
"""A regex character class matching one combining mark (categories Mn and Mc)."""

LETTER_WORD = rf"[^\W\d_]+(?:{MARK}+[^\W\d_]*)*"
"""A run of letters with the marks written on them ("भारत", "وزیرِ", "Ukraine")."""

ALNUM_WORD = rf"[^\W_]+(?:{MARK}+[^\W_]*)*"
"""A run of letters and digits with the marks written on them ("F16", "पाकिस्तान")."""
