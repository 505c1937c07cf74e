"""Text as a script says it -> text as a voice should read it.

Engines stumble on typography: espeak-ng spells out some symbols, Piper skips others, and
neither reads "3rd" or "50%" the way a person would. This runs on every utterance before
synthesis, so both engines hear the same plain words, with commas where a reader pauses.
"""

from __future__ import annotations

import re
import unicodedata

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    " fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_ENDINGS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_QUOTES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
}  # fmt: skip


def number_words(n: int) -> str:
    """0 <= n < 10**9 in words: 1234 -> 'one thousand two hundred thirty-four'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    for size, name in ((10**6, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            return f"{number_words(high)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise ValueError(n)


def ordinal_words(n: int) -> str:
    words = number_words(n)
    head, sep, last = words.rpartition(" " if "-" not in words.split(" ")[-1] else "-")
    if last in _ORDINAL_ENDINGS:
        last = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def _number(match: re.Match[str]) -> str:
    whole, fraction, ordinal, percent = match.group(1, 2, 3, 4)
    digits = whole.replace(",", "")
    if len(digits) > 9:
        return match.group(0)
    value = int(digits)
    if ordinal:
        words = ordinal_words(value)
    else:
        words = number_words(value)
        if fraction:
            words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return words + (" percent" if percent else "")


_NUMBER_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th)?(%)?(?!\w)")


def normalize_for_speech(text: str) -> str:
    """Plain, speakable text: straight quotes, no emoji, numbers in words, pauses as commas."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(_QUOTES.get(ch, ch) for ch in text)
    # Emoji, pictographs and other symbols carry no words; engines either skip them or read
    # their names aloud ("smiling face"), which breaks a meditative sentence.
    text = "".join(
        ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Cs", "Co", "Cn")
    )
    text = text.replace("\u200d", "").replace("\ufe0f", "")
    # Ellipses and dashes are where a reader pauses: say so with a comma.
    text = re.sub(r"\s*(?:\.{3,}|\u2026)\s*(?=\w)", ", ", text)
    text = re.sub(r"\s*(?:\.{3,}|\u2026)\s*$", ".", text)
    text = re.sub(r"\s+[-\u2013\u2014]+\s+|\s*[\u2013\u2014]\s*", ", ", text)
    text = _NUMBER_RE.sub(_number, text)
    text = text.replace("&", " and ")
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r",\s*,+", ",", text)
    text = re.sub(r"^[,\s]+", "", text)
    return " ".join(text.split())
