"""Closed-class details of a sentence: the numbers, weekdays and months it names.

chrF measures how much of a reference's wording a translation carries, so a translation
that gets every word right but one number ("trois heures" as 五个小时) scores as high as a
correct one. Numbers, weekdays and months are details a reader checks, whose words form a
small closed list in each target language; :func:`details` reads them as values
(``("number", 3)``, ``("weekday", 7)``, ``("month", 12)``) so that a response and a
reference in the same language can be compared, whatever their other wording.

The target languages of the translation tasks (English, French, Chinese) and the other
languages of the passages (German, Spanish) are read; in others only digits count. Words that
are also common non-numbers are left out: "one", "un/une", "neuf" (new), "ein", "uno", 一,
十分 (very).

    >>> sorted(details("Le vol a été retardé de trois heures dimanche.", "fr"))
    [('number', 3), ('weekday', 7)]
    >>> sorted(details("飞往蒙特利尔的航班延误了五个小时。", "zh"))
    [('number', 5)]
    >>> sorted(details("Twenty-five people came on Monday 3 May.", "en"))
    [('month', 5), ('number', 3), ('number', 25), ('weekday', 1)]
"""
from __future__ import annotations

import re

_EN = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
       "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
       "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
       "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_FR = {"deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "dix": 10, "onze": 11,
       "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16, "vingt": 20, "vingts": 20,
       "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60}
_ES = {"dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
       "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15, "dieciséis": 16, "diecisiete": 17,
       "dieciocho": 18, "diecinueve": 19, "veinte": 20, "treinta": 30, "cuarenta": 40, "cincuenta": 50,
       "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90, "cien": 100, "ciento": 100,
       "quinientos": 500, "quinientas": 500, "setecientos": 700, "setecientas": 700,
       "novecientos": 900, "novecientas": 900}
_ES |= {f"veinti{w}": 20 + n for w, n in (("uno", 1), ("dós", 2), ("trés", 3), ("cuatro", 4), ("cinco", 5),
                                          ("séis", 6), ("siete", 7), ("ocho", 8), ("nueve", 9))}
_ES |= {f"{w}cient{e}": n * 100 for w, n in (("dos", 2), ("tres", 3), ("cuatro", 4), ("seis", 6), ("ocho", 8))
        for e in ("os", "as")}
# German writes a number as one word ("dreihundertzwanzig"): its parts, read left to right
_DE_PARTS = {"zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "sieb": 7, "acht": 8,
             "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "zwanzig": 20, "dreißig": 30, "vierzig": 40,
             "fünfzig": 50, "sechzig": 60, "siebzig": 70, "achtzig": 80, "neunzig": 90, "hundert": "x100",
             "tausend": "x1000", "ein": 1, "eins": 1, "und": 0}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "cent": 100, "cents": 100, "mille": 1000,
           "century": 100, "centuries": 100, "siècle": 100, "siècles": 100,  # three-century-old: 300
           "decade": 10, "decades": 10, "décennie": 10, "décennies": 10,  # four decades: 40
           "mil": 1000, "millón": 10**6, "millones": 10**6}
_INSIDE_A_NUMBER = {"neuf": 9, "un": 1, "une": 1, "one": 1, "uno": 1, "una": 1}  # alone they are not numbers
WEEKDAYS = {
    "en": "monday tuesday wednesday thursday friday saturday sunday".split(),
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche".split(),
    "de": "montag dienstag mittwoch donnerstag freitag samstag sonntag".split(),
    "es": "lunes martes miércoles jueves viernes sábado domingo".split(),
}
MONTHS = {
    "en": "january february march april may june july august september october november december".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "de": "januar februar märz april mai juni juli august september oktober november dezember".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
}
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_SCALES = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_ZH_WEEKDAY = re.compile(r"(?:星期|礼拜|周)([一二三四五六日天])")
_ZH_MONTH = re.compile(r"([一二三四五六七八九十]{1,2}|1[0-2]|[1-9])月")
_ZH_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_ZH_NOT_NUMBERS = ("十分", "万一", "一一", "三明治", "千万")  # very, in case, one by one, sandwich, by all means


def details(text: str, language: str) -> set[tuple[str, int]]:
    """The numbers, weekdays and months ``text`` (in ``language``: en, fr, zh, de or es) names,
    as ``(kind, value)`` pairs; digits count in every language."""
    if language == "zh":
        return _zh(text)
    found = _digits(text)
    tokens = re.findall(r"[^\W\d_]+|[^\w\s-]", text.casefold())  # punctuation ends a number: "22, 2000"
    for kind, names in (("weekday", WEEKDAYS), ("month", MONTHS)):
        found |= {(kind, names[language].index(t) + 1) for t in tokens if t in names.get(language, ())}
    if language == "en" and "may" in tokens:  # the verb is far more common than the month
        found.discard(("month", 5))
        if re.search(r"\bmay\s+\d|\d\s+may\b|\bin may\b", text, re.I):
            found.add(("month", 5))
    if language == "de":
        return found | {("number", n) for n in map(_de_number, tokens) if n not in (None, 1)}
    words = {"en": _EN, "fr": _FR, "es": _ES}.get(language, {})
    return found | {("number", n) for n in _word_numbers(tokens, words) if n != 1}


def _de_number(word: str) -> int | None:
    """A German number word's value ("dreihundertzwanzig" 320, "tausend" 1000), else None;
    "ein" alone is the article."""
    parts, rest = [], word
    while rest:
        part = next((p for p in sorted(_DE_PARTS, key=len, reverse=True) if rest.startswith(p)), None)
        if part is None:
            return None
        parts.append(_DE_PARTS[part])
        rest = rest[len(part):]
    if word in ("ein", "eins", "und") or all(p == 0 for p in parts):
        return None
    total, current = 0, 0
    for p in parts:
        if p == "x1000":
            total, current = (total + max(current, 1)) * 1000, 0
        elif p == "x100":
            current = max(current, 1) * 100
        else:
            current += p
    return total + current


def _digits(text: str) -> set[tuple[str, int]]:
    return {("number", int(d)) for d in re.findall(r"\d+", text.replace(",", "")) if int(d) != 1}


def _word_numbers(tokens: list[str], words: dict[str, int]) -> list[int]:
    """Runs of number words as values: "twenty five" 25, "five hundred" 500, "dix sept" 17."""
    out, value, current, in_run, previous = [], 0, 0, False, ""
    for t in tokens + [""]:
        if t in ("vingt", "vingts") and previous == "quatre":  # quatre-vingt(s): 80
            current += 76
        elif t in words:
            current, in_run = current + words[t], True
        elif t in _INSIDE_A_NUMBER and in_run:  # "dix-neuf", "vingt et un", "twenty-one"
            current += _INSIDE_A_NUMBER[t]
        elif t in _SCALES:  # "a hundred", "mille"
            current, in_run = max(current, 1) * _SCALES[t], True
            if _SCALES[t] >= 1000:
                value, current = value + current, 0
        elif t in ("and", "et") and in_run:
            continue
        else:
            if in_run:
                out.append(value + current)
            value, current, in_run = 0, 0, False
        previous = t
    return out


def _zh(text: str) -> set[tuple[str, int]]:
    found = {("weekday", "一二三四五六日天".index(d) + 1 if d != "天" else 7) for d in _ZH_WEEKDAY.findall(text)}
    found |= {("month", _zh_value(m) if not m.isdigit() else int(m)) for m in _ZH_MONTH.findall(text)}
    cleaned = _ZH_WEEKDAY.sub(" ", _ZH_MONTH.sub(" ", text))
    for word in _ZH_NOT_NUMBERS:
        cleaned = cleaned.replace(word, " ")
    found |= _digits(cleaned)
    for run in _ZH_NUMERAL.findall(cleaned):
        if run not in ("一", "万", "千", "百"):
            value = _zh_value(run)
            if value not in (None, 1):
                found.add(("number", value))
    return found


def _zh_value(run: str) -> int | None:
    """十五 15, 三百 300, 两千 2000, 二〇二四 2024; None when not a number."""
    if all(ch in _ZH_DIGITS for ch in run) and len(run) > 1:
        return int("".join(str(_ZH_DIGITS[ch]) for ch in run))
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        elif ch in _ZH_SCALES:
            scale = _ZH_SCALES[ch]
            if scale == 10_000:
                total, section = (total + section + (digit or 0)) * scale, 0
            else:
                section += (1 if digit is None else digit) * scale
            digit = None
        else:
            return None
    return total + section + (digit or 0)


def differences(response: str, reference: str, language: str) -> str | None:
    """Which details of ``reference`` the response gets wrong, in words, or None: a detail of
    the reference it lacks, or one of its own where the reference names another of that kind.

    >>> differences("Le zoo a reçu trois pandas.", "Le zoo a reçu deux pandas.", "fr")
    'the reference says number 2, the response number 3'
    >>> differences("The shop is open 24 hours a day.", "The shop is open around the clock.", "en") is None
    True
    """
    mine, theirs = details(response, language), details(reference, language)
    missing = sorted(theirs - mine)
    extra = sorted(d for d in mine - theirs if any(kind == d[0] for kind, _ in theirs))
    if not missing and not extra:
        return None
    said = ", ".join(f"{k} {v}" for k, v in missing) or "nothing of that kind"
    got = ", ".join(f"{k} {v}" for k, v in extra) or "does not say so"
    return f"the reference says {said}, the response {got}"


def invented(response: str, source: str, language: str | None) -> str | None:
    """The details a summary names that its source (same ``language``) does not, or None.

    >>> invented("About a hundred tools were sold.", "Over a thousand loans were made.", "en")
    'number 100'
    """
    new = sorted(details(response, language or "") - details(source, language or ""))
    return ", ".join(f"{k} {v}" for k, v in new) or None
