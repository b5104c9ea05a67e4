"""Words keep the combining marks written on their letters (monitors/detect/letters.py)."""

from __future__ import annotations

import re

import pytest

from monitors.detect import textfeatures as tf
from monitors.detect.countries import fold, word_tokens
from monitors.detect.letters import ALNUM_WORD, LETTER_WORD, MARK

WORDS = [
    pytest.param("भारत और पाकिस्तान", ["भारत", "और", "पाकिस्तान"], id="hindi vowel signs and virama"),
    pytest.param("रक्षा मंत्री", ["रक्षा", "मंत्री"], id="hindi anusvara and conjuncts"),
    pytest.param("इज़राइल", ["इज़राइल"], id="hindi nukta"),
    pytest.param("امریکی وزیرِ خارجہ", ["امریکی", "وزیرِ", "خارجہ"], id="urdu izafat zer"),
    pytest.param("اعلیٰ سول قیادت", ["اعلیٰ", "سول", "قیادت"], id="urdu superscript alef"),
    pytest.param("ಕರ್ನಾಟಕ ಬ್ಯಾಂಕ್", ["ಕರ್ನಾಟಕ", "ಬ್ಯಾಂಕ್"], id="kannada"),
    pytest.param("বাংলাদেশ সেনাবাহিনী", ["বাংলাদেশ", "সেনাবাহিনী"], id="bengali"),
    pytest.param(
        "Ukraine, Azərbaycan и Россия",
        ["Ukraine", "Azərbaycan", "и", "Россия"],
        id="latin cyrillic unchanged",
    ),
    pytest.param("F-16 jets", ["F", "jets"], id="digits are no letters"),
]


@pytest.mark.parametrize(("text", "words"), WORDS)
def test_letter_words(text: str, words: list[str]) -> None:
    assert re.findall(LETTER_WORD, text) == words


@pytest.mark.parametrize(("text", "words"), WORDS)
def test_textfeatures_and_gazetteer_tokens_keep_marks(text: str, words: list[str]) -> None:
    if any(c.isdigit() for c in text):
        return  # numbers are tokens of their own there
    assert tf.words(text) == words
    assert [w for w, _, _ in word_tokens(fold(text))] == [fold(w) for w in words]


def test_alnum_words_keep_digits() -> None:
    assert re.findall(ALNUM_WORD, "F16 और मिग29") == ["F16", "और", "मिग29"]


@pytest.mark.parametrize(
    "char",
    [
        pytest.param("\u093e", id="devanagari aa sign Mc"),
        pytest.param("\u094d", id="devanagari virama Mn"),
        pytest.param("\u0650", id="arabic kasra Mn"),
        pytest.param("\u0301", id="combining acute Mn"),
    ],
)
def test_mark_class_holds_combining_marks(char: str) -> None:
    assert re.fullmatch(MARK, char)
    assert not re.fullmatch(r"\w", char)  # why the class is needed


@pytest.mark.parametrize("char", ["a", "я", "ب", "भ", " ", "-", "1"])
def test_mark_class_holds_nothing_else(char: str) -> None:
    assert not re.fullmatch(MARK, char)
