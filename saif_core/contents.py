"""Content items (inputs without any instruction) and their references.

A contents file (``data/contents/*.jsonl``, or any file a user passes) holds one
``{"id", "text", "lang"?, "keyword"?, "references"?}`` per line. ``references`` says what a
correct answer means: ``{"fr": …, "zh": …, "en": …}`` (reference translations) for
sentences, ``{"summary": …}`` for passages. The shipped contents' references, written for
this project, live beside them in ``data/contents/references/<file>.jsonl`` as
``{"id", "references"}`` lines and are attached on load; a reference given on the contents
line itself wins.

Example:
    >>> item = all_contents()["sent-en-0001"]
    >>> sorted(item.references)
    ['fr', 'zh']
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import paths

REFERENCE_KEYS = ("fr", "zh", "en", "summary")


class DataError(ValueError):
    """A data file or an argument is invalid; the message says where and what to do."""


def data_root(data_dir: str | Path | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else the repository's ``data/``."""
    return Path(data_dir) if data_dir is not None else paths.DATA_DIR


@dataclass(frozen=True)
class ContentItem:
    """One input without instruction; ``keyword`` only for the keyword prompts' own word;
    ``references`` maps a target language (or ``"summary"``) to a reference answer."""

    id: str
    text: str
    lang: str | None = None
    keyword: str | None = None
    references: dict = field(default_factory=dict, compare=False, hash=False)

    def reference(self, key: str | None) -> str | None:
        """The reference for a target language or ``"summary"`` (None when there is none)."""
        return self.references.get(key) if key else None


def _check_references(refs, where: str) -> dict:
    if not isinstance(refs, dict) or not refs:
        raise DataError(f"{where}: 'references' must be an object such as "
                        '{"fr": "...", "zh": "...", "en": "..."} or {"summary": "..."}. ' + FIX_LINE)
    for key, text in refs.items():
        if key not in REFERENCE_KEYS:
            raise DataError(f"{where}: reference key {key!r} is not one of {REFERENCE_KEYS}. {FIX_LINE}")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: reference {key!r} must be a non-empty string. {FIX_LINE}")
    return dict(refs)


FIX_LINE = "Fix: correct that line (one JSON object per line)."


def read_lines(path: str | Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line of a UTF-8 text file. A missing file,
    a folder or bytes that are not UTF-8 raise DataError naming the file (and the line)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist. Fix: pass an existing file.") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, not a file. Fix: pass a file.") from None
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror}). Fix: pass a readable file.") from None
    return decode_lines(raw, path)


def decode_lines(raw: bytes, name) -> list[tuple[int, str]]:
    """``read_lines`` of bytes already read (``name`` says where they come from)."""
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{name}, line {n}: not UTF-8 text ({e.reason} at byte {e.start}). "
                            "Fix: save the file as UTF-8.") from None
        if text.strip():
            out.append((n, text.lstrip("\ufeff") if n == 1 else text))
    return out


def check_unicode(value, where: str) -> None:
    """Every string in a parsed JSON value must be writable as UTF-8 (a ``\\ud800`` escape
    parses into a lone surrogate, which no output can print)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise DataError(f"{where}: holds a lone surrogate ({value[e.start]!r}), which is not text. "
                            "Fix: replace that \\ud8xx-\\udfff escape with the character it stands for.") from None
    elif isinstance(value, dict):
        for v in value.values():
            check_unicode(v, where)
    elif isinstance(value, list):
        for v in value:
            check_unicode(v, where)


def _rows(path: Path):
    """``(where, row)`` for every non-blank line of a JSONL file; bad lines raise DataError."""
    for n, line in read_lines(path):
        where = f"{path}, line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: bad JSON ({e.msg} at column {e.colno}). {FIX_LINE}") from e
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}. {FIX_LINE}")
        check_unicode(row, where)
        yield where, row


def load_contents(path: str | Path) -> list[ContentItem]:
    """Read a JSONL contents file, with the references on its lines and, for a shipped file,
    those of ``references/<file>.jsonl`` beside it. A bad line raises ``DataError`` naming
    file and line."""
    path = Path(path)
    items: list[ContentItem] = []
    first_line: dict[str, str] = {}
    shipped = load_references(path.parent / "references" / path.name)
    for where, row in _rows(path):
        for key in ("id", "text"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(f"{where}: missing {key!r} (a non-empty string). {FIX_LINE}")
        for key in ("lang", "keyword"):
            if key in row and not (isinstance(row[key], str) and row[key].strip()):
                raise DataError(f"{where}: {key!r}, when present, must be a non-empty string. {FIX_LINE}")
        if row["id"] in first_line:
            raise DataError(f"{where}: duplicate id {row['id']!r} (first on {first_line[row['id']]}). "
                            "Fix: give every line its own id.")
        first_line[row["id"]] = where.rsplit(", ", 1)[1]
        refs = {**shipped.get(row["id"], {}),
                **(_check_references(row["references"], where) if "references" in row else {})}
        items.append(ContentItem(row["id"], row["text"], row.get("lang"), row.get("keyword"), refs))
    return items


def load_references(path: str | Path) -> dict[str, dict]:
    """``{content id: references}`` of a references file (empty when there is none)."""
    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    for where, row in _rows(path):
        if not isinstance(row.get("id"), str):
            raise DataError(f"{where}: missing 'id'")
        out[row["id"]] = _check_references(row.get("references"), where)
    return out


def all_contents(data_dir: str | Path | None = None) -> dict[str, ContentItem]:
    """Every content item of ``data/contents/*.jsonl`` by id; ids are unique across files."""
    items: dict[str, ContentItem] = {}
    where: dict[str, str] = {}
    for path in sorted((data_root(data_dir) / "contents").glob("*.jsonl")):
        for item in load_contents(path):
            if item.id in items:
                raise DataError(f"{path}: id {item.id!r} is already used in {where[item.id]}. Fix: rename one of them.")
            items[item.id], where[item.id] = item, path.name
    return items
