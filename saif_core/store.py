"""The results store: run folders, their records, and the cached pairs and vectors.

A run lives in ``<results>/<task>-<cfg.key()>/``:

    config.json       the configuration (written once)
    vector.json/.safetensors   the steering vector as the run applied it (alpha, positions)
    latents.json      the selected latents with their statistics
    records.jsonl     one line per generation: condition, content id, prompt, output, verdict
    summary.json      strict / loose accuracy per condition, with 95% intervals

and the caches shared by runs in ``<results>/vectors/``: the pairs' residuals
(``<task>-pairs-<key("pairs")>.safetensors``) and each vector with its latent table
(``<task>-<key("vector")>/``). Every file but ``records.jsonl`` is written atomically
(``atomic``); a damaged cache file is deleted and rebuilt, never trusted.

``records.jsonl`` is append-only: each batch is appended in one write and fsynced; a
killed run resumes by skipping the (condition, content id) pairs already stored. A torn
last line (kill mid-write) is cut off; a damaged line elsewhere is dropped with a warning
naming the file and line, and its record is generated again. Readers keep the first record
of each (condition, content id), and ``run_lock`` lets one process at a time fill a folder.
"""
from __future__ import annotations

import fcntl
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import write_text, write_with
from .steering import SteeringError, SteeringVector

CACHE_FORMAT = 1  # of the cached pairs file; bump when its layout changes


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def read_json(path: Path):
    """A JSON file of the store, or None when it is missing or damaged (the caller rebuilds it)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on a run folder: two processes running the same configuration
    take turns, and the second finds the first one's records instead of doubling them."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------- records


def read_records(path: Path) -> list[dict]:
    """The complete records of a JSONL store, the first of each (condition, content id).

    A torn last line (kill mid-write) is cut from the file so the next append starts
    clean; a damaged line elsewhere is removed from the file with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    good_end = raw.rfind(b"\n") + 1
    records, bad = [], []
    for number, line in enumerate(raw[:good_end].split(b"\n")[:-1], 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
            records.append(rec)
        except ValueError as e:
            bad.append((number, line, e))
    if bad:
        warnings.warn(f"{path}: dropped {len(bad)} damaged line(s) (line {', '.join(str(n) for n, *_ in bad)}: "
                      f"{bad[0][2]}); their records will be generated again", stacklevel=2)
        keep = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
        write_with(path, lambda tmp: Path(tmp).write_bytes(keep))
    elif good_end < len(raw):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return dedupe(records)


def dedupe(records: list[dict]) -> list[dict]:
    """The first record of each (condition, content id), in order."""
    seen, out = set(), []
    for r in records:
        key = (r.get("condition"), r.get("content_id"))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def rewrite_records(path: Path, records: list[dict]) -> None:
    """Replace a records file atomically (a reader sees the old file or the new, never half)."""
    blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    write_with(path, lambda tmp: Path(tmp).write_bytes(blob))


def append_records(path: Path, records: list[dict]) -> None:
    """Append records in one write, then fsync: a batch lands whole or is torn at the end."""
    if not records:
        return
    blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, blob)
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- cached pairs and vectors


def pairs_path(root: Path, task: str, key: str) -> Path:
    return root / "vectors" / f"{task}-pairs-{key}.safetensors"


def vector_dir(root: Path, task: str, key: str) -> Path:
    return root / "vectors" / f"{task}-{key}"


def load_pairs(path: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Cached (positive, negative) residuals, or None when missing, damaged or of another format."""
    if not path.exists():
        return None
    try:
        t = load_file(str(path))
        if int(t.get("format", torch.tensor(CACHE_FORMAT)).item()) != CACHE_FORMAT:
            return None
        return t["positive"], t["negative"]
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError):
        path.unlink(missing_ok=True)
        return None


def save_pairs(path: Path, pos: torch.Tensor, neg: torch.Tensor) -> None:
    tensors = {"positive": pos.contiguous(), "negative": neg.contiguous(), "format": torch.tensor(CACHE_FORMAT)}
    write_with(path, lambda tmp: save_file(tensors, tmp))


def load_vector(folder: Path) -> tuple[SteeringVector, list[dict]] | None:
    """A cached vector and its latent table, or None when missing or damaged."""
    table = read_json(folder / "latents.json")
    if table is None or not (folder / "vector.json").exists():
        return None
    try:
        return SteeringVector.load(folder / "vector"), table
    except SteeringError:
        return None


def save_vector(folder: Path, sv: SteeringVector, table: list[dict]) -> None:
    write_json(folder / "latents.json", table)
    sv.save(folder / "vector")
