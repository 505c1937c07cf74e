"""Where a paragraph breathes: sentences, and the phrases inside them.

Pure text rules, shared by the timeline (a breath between sentences, one caption per
sentence) and synthesis (a shorter rest at commas, colons and ellipses inside a sentence).
A sentence ends at ``.``, ``!``, ``?`` or an ellipsis followed by a space; a phrase ends at
``,``, ``;``, ``:`` or an ellipsis followed by a space. The punctuation stays with its text, so
an engine still hears a sentence's falling close or a phrase's rising one.
"""

from __future__ import annotations

import re

_SENTENCE_END_RE = re.compile(r"""(?<=[.!?…])(["'”’)]*)\s+(?=\S)""")
_PHRASE_END_RE = re.compile(r"""(?<=[,;:.…])(["'”’)]*)\s+(?=\S)""")
"""Inside a sentence, a full stop can only close an ellipsis (or an abbreviation)."""
_ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.", "e.g.", "i.e.", "etc.")
_MIN_PHRASE_WORDS = 2
"""A phrase this short stays with the next one: "So, breathe" is said in one go."""


def _split(text: str, pattern: re.Pattern[str]) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        piece = text[start : match.end(1)].strip()
        if piece.endswith(_ABBREVIATIONS):
            continue
        if piece:
            pieces.append(piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def sentences(text: str) -> list[str]:
    """A paragraph's sentences, in order, each with its closing punctuation.

    An ellipsis followed by a lower-case word ("and... slowly") trails on within the sentence.
    """
    out: list[str] = []
    for piece in _split(" ".join(text.split()), _SENTENCE_END_RE):
        if out and out[-1].endswith(("...", "…")) and piece[:1].islower():
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def phrases(sentence: str) -> list[str]:
    """A sentence's phrases: where a reader would rest briefly without taking a breath.

    A one-word phrase ("So," "Now,") joins the phrase after it, so no rest cuts a few words
    into pieces.
    """
    out: list[str] = []
    carry = ""
    for piece in _split(sentence, _PHRASE_END_RE):
        joined = f"{carry} {piece}".strip()
        if len(joined.split()) < _MIN_PHRASE_WORDS:
            carry = joined
            continue
        out.append(joined)
        carry = ""
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out
