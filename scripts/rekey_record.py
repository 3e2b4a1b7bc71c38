"""Rename a results store's (or the record's) run folders and caches to the current keys.

When the key scheme of ``saif_core.config.RunConfig.key`` changes (here: the model weights'
fingerprint joined the keys, issue #17), stored generations are still valid: the
configuration behind them is the same. This moves every run folder
``<task>-<old key>/`` to ``<task>-<new key>/`` (from its own ``config.json``), and the cached
pairs and vectors under ``vectors/`` to their new names, so nothing is generated again.
Each ``summary.json`` gets its new ``key``. Caches no run
configuration accounts for are left where they are (a later run rebuilds what it needs).

    PYTHONPATH=. .venv/bin/python scripts/rekey_record.py record [--old-without model_weights]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

from saif_core import config
from saif_core.config import RunConfig


def configs(root: Path) -> dict[Path, RunConfig]:
    return {path.parent: RunConfig.from_file(path) for path in sorted(root.glob("*/config.json"))}


def old_key(cfg: RunConfig, stage: str) -> str:
    with mock.patch.object(config, "model_fingerprint", lambda model_id: None):
        return cfg.key(stage)


def rekey(root: Path, dry_run: bool = False) -> dict:
    moves: list[tuple[Path, Path]] = []
    for folder, cfg in configs(root).items():
        if folder.name != f"{cfg.task}-{old_key(cfg, 'generation')}":
            if folder.name == f"{cfg.task}-{cfg.key()}":
                continue  # already current
            raise SystemExit(f"{folder}: its name matches neither key of its config.json; left alone")
        moves.append((folder, folder.with_name(f"{cfg.task}-{cfg.key()}")))
        vectors = root / "vectors"
        for stage, old, new in [("pairs", f"{cfg.task}-pairs-{old_key(cfg, 'pairs')}.safetensors",
                                 f"{cfg.task}-pairs-{cfg.key('pairs')}.safetensors"),
                                ("vector", f"{cfg.task}-{old_key(cfg, 'vector')}", f"{cfg.task}-{cfg.key('vector')}")]:
            if (vectors / old).exists() and (vectors / old, vectors / new) not in moves:
                moves.append((vectors / old, vectors / new))
    for src, dest in moves:
        if not dry_run:
            src.rename(dest)
            summary = dest / "summary.json"
            if dest.parent == root and summary.exists():  # its "key" names the folder
                got = json.loads(summary.read_text(encoding="utf-8"))
                got["key"] = dest.name.rsplit("-", 1)[1]
                summary.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"moved": len(moves), "runs": sum(1 for s, _ in moves if s.parent == root)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="a results store or the record")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    print(rekey(args.root, args.dry_run))
