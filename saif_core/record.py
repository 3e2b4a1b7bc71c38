"""The study's record: the results store behind the committed figures, shipped with the code.

A from-scratch run of the notebook series generates every output on 2 CPU cores; the record
(``<repo>/record/``, or ``SAIF_RECORD``) holds those generations, so ``saif figures`` and the
notebook tests re-derive every figure from them in minutes, generating only what is missing.

Layout: the results store's own layout, with each run's ``records.jsonl`` gzipped
(``records.jsonl.gz``, written reproducibly: no timestamp) and lock files left out:

    record/<task>-<key>/{config,summary,latents,vector}.json, vector.safetensors, records.jsonl.gz
    record/vectors/...   the cached pairs' residuals and vectors

:func:`restore` copies into a results store what it lacks (never overwriting a file there);
:func:`save` writes a store into the record, replacing the record's previous content.
Records an older judge labelled are re-judged when a run reads them (``experiments``), so a
changed judge needs no new generations; a changed configuration has a new key and generates.

Example:
    >>> import tempfile
    >>> restore(Path(tempfile.mkdtemp()) / "no-record", Path(tempfile.mkdtemp()))
    {'files': 0, 'records': 0}
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from . import paths
from .atomic import write_with

SKIP = (".lock",)


def restore(record: Path | None = None, results: Path | None = None) -> dict:
    """Copy what the results store lacks from the record; returns ``{"files", "records"}``
    (files written, generations among them)."""
    record, results = Path(record or paths.record_root()), Path(results or paths.results_root())
    files = records = 0
    if not record.is_dir():
        return {"files": 0, "records": 0}
    for src in sorted(p for p in record.rglob("*") if p.is_file() and p.name not in SKIP):
        rel = src.relative_to(record)
        if src.name == "records.jsonl.gz":
            dest = results / rel.parent / "records.jsonl"
            if dest.exists():
                continue
            try:
                blob = gzip.decompress(src.read_bytes())
            except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
                raise ValueError(f"{src} is damaged ({type(e).__name__}: {e}); nothing of it was restored. "
                                 "Fix: `git checkout -- record` (or `saif figures --fresh` to regenerate).") from None
            records += blob.count(b"\n")
        else:
            dest = results / rel
            if dest.exists():
                continue
            blob = src.read_bytes()
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_with(dest, lambda tmp, blob=blob: Path(tmp).write_bytes(blob))
        files += 1
    return {"files": files, "records": records}


def generations(results: Path | None = None) -> int:
    """How many generations a results store holds (lines of its runs' ``records.jsonl``)."""
    results = Path(results or paths.results_root())
    return sum(p.read_bytes().count(b"\n") for p in results.glob("*/records.jsonl")) if results.is_dir() else 0


def save(results: Path | None = None, record: Path | None = None) -> dict:
    """Write the results store into the record (its previous content replaced); returns
    ``{"files", "records", "bytes"}``."""
    record, results = Path(record or paths.record_root()), Path(results or paths.results_root())
    if not results.is_dir():
        raise FileNotFoundError(f"no results store at {results}. Fix: run the notebooks (saif figures) first, "
                                "or point SAIF_RESULTS at the store to save.")
    staging = record.with_name(record.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    files = records = size = 0
    for src in sorted(p for p in results.rglob("*") if p.is_file() and p.name not in SKIP
                      and not p.name.startswith(".")):
        rel = src.relative_to(results)
        blob = src.read_bytes()
        if src.name == "records.jsonl":
            records += blob.count(b"\n")
            blob, rel = gzip.compress(blob, compresslevel=9, mtime=0), rel.with_name("records.jsonl.gz")
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(blob)
        files, size = files + 1, size + len(blob)
    shutil.rmtree(record, ignore_errors=True)
    staging.rename(record)
    return {"files": files, "records": records, "bytes": size}
