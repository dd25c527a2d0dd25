"""Make LLM text speakable: strip markdown and emoji, spell out numbers and symbols.

A TTS voice reads "**Note**: 3.5% of $20" badly; a person would say
"Note: three point five percent of twenty dollars".
"""

from __future__ import annotations

import re

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip


def number_words(n: int) -> str:
    """Spell a non-negative integer in English words: 342 -> 'three hundred forty-two'."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("-" + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_words(rest) if rest else "")
    for value, name in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return number_words(high) + " " + name + (" " + number_words(rest) if rest else "")
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """Spell an ordinal: 21 -> 'twenty-first'."""
    words = number_words(n)
    head, sep, last = words.rpartition("-" if "-" in words.split(" ")[-1] else " ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def _year_words(n: int) -> str:
    high, low = divmod(n, 100)
    if low == 0:
        return number_words(high) + " hundred"
    if low < 10:
        return number_words(high) + " oh " + number_words(low)
    return number_words(high) + " " + number_words(low)


def _digits_words(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


def _spell_number(match: re.Match[str]) -> str:
    currency, body, suffix = match.group("cur"), match.group("num"), match.group("suf") or ""
    body = body.replace(",", "")
    whole, _, frac = body.partition(".")
    if currency is None and not frac and len(whole) == 4 and 1100 <= int(whole) <= 2099 and not suffix:
        words = _year_words(int(whole))  # most bare four-digit numbers in speech are years
    elif len(whole) > 15:
        words = _digits_words(whole)
    else:
        words = number_words(int(whole))
    if suffix.lower() in ("st", "nd", "rd", "th") and not frac:
        return ordinal_words(int(whole))
    if frac:
        if currency == "$" and len(frac) == 2:
            cents = int(frac)
            dollars = "dollar" if int(whole) == 1 else "dollars"
            tail = f" and {number_words(cents)} cents" if cents else ""
            return f"{words} {dollars}{tail}"
        words += " point " + _digits_words(frac)
    if suffix == "%":
        words += " percent"
    if currency == "$":
        words += " dollar" if body == "1" else " dollars"
    elif currency == "£":
        words += " pound" if body == "1" else " pounds"
    elif currency == "€":
        words += " euro" if body == "1" else " euros"
    return words


_NUMBER_RE = re.compile(
    r"(?P<cur>[$£€])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<suf>%|st\b|nd\b|rd\b|th\b)?"
)
_MARKDOWN_RE = [
    (re.compile(r"```.*?```", re.S), " "),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links: keep the label
    (re.compile(r"^\s{0,3}#{1,6}\s*", re.M), ""),
    (re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+", re.M), ""),  # list bullets
    (re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
]
_SYMBOLS = {
    "&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "#": " number ",
    "°": " degrees ", "×": " times ", "/": " slash ", "*": " ", "_": " ", "~": " ",
    "|": ", ", "<": " less than ", ">": " greater than ", "^": " ",
}  # fmt: skip
_EMOJI_RE = re.compile("[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\ufe0f\u200d]")
_URL_RE = re.compile(r"https?://\S+|www\.\S+")


def speakable(text: str) -> str:
    """Rewrite `text` the way a person would read it aloud."""
    for pattern, replacement in _MARKDOWN_RE:
        text = pattern.sub(replacement, text)
    text = _URL_RE.sub(" a link ", text)
    text = _EMOJI_RE.sub("", text)
    text = re.sub(r"(?<=\d)\s*-\s*(?=\d)", " to ", text)  # ranges: 3-5
    text = _NUMBER_RE.sub(_spell_number, text)
    text = "".join(_SYMBOLS.get(ch, ch) for ch in text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()
