"""Every path of the package and every ``SAIF_*`` environment variable, in one place.

Each folder is a function read at call time, so a notebook or test that sets the variable
(``os.environ["SAIF_RESULTS"] = ...``) moves it without re-importing anything.

| variable | default | what lives there |
|---|---|---|
| ``SAIF_RESULTS`` | ``<repo>/results`` | the results store (run folders, cached pairs and vectors) |
| ``SAIF_RECORD`` | ``<repo>/record`` | the shipped record of the study's generations (``record``) |
| ``SAIF_FIGURES`` | ``<repo>/figures`` | figures, their summaries, ``timings.json`` |
| ``SAIF_SAES`` | ``<repo>/data/saes`` | shipped SAEs (``<model>/<hook>/width_<d_sae>/``) |
| ``SAIF_CORPUS`` | ``<repo>/data/saes/corpus`` | the SAE corpus' generated responses (not moved by ``SAIF_SAES``) |
| ``SAIF_CACHE`` | ``~/.cache/saif`` | dequantized models, assembled GGUFs, LLM-judge answers |
| ``SAIF_SAE_WORK`` | ``$SAIF_CACHE/sae_work`` | SAE training work (activation caches, checkpoints) |

Example:
    >>> from saif_core import paths
    >>> paths.sae_root().name
    'saes'
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "data"
TASKS_DIR = DATA_DIR / "tasks"
CONTENTS_DIR = DATA_DIR / "contents"
NOTEBOOKS = REPO / "notebooks"
README = REPO / "README.md"


def _env_path(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


def check_folder(variable: str, path: Path) -> Path:
    """``path`` (the value of ``variable`` or its default) when it is a folder or can become
    one; a ValueError naming the variable otherwise."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{variable}={path} is a file, not a folder. Fix: point {variable} at a folder "
                         "(or unset it for the default).")
    return path


def results_root() -> Path:
    return _env_path("SAIF_RESULTS", REPO / "results")


def record_root() -> Path:
    return _env_path("SAIF_RECORD", REPO / "record")


def figures_root() -> Path:
    return _env_path("SAIF_FIGURES", REPO / "figures")


def sae_root() -> Path:
    return _env_path("SAIF_SAES", DATA_DIR / "saes")


def cache_root() -> Path:
    return _env_path("SAIF_CACHE", Path.home() / ".cache" / "saif")


def sae_work_root() -> Path:
    return _env_path("SAIF_SAE_WORK", cache_root() / "sae_work")


def corpus_dir() -> Path:
    """The SAE training corpus' generated responses (committed beside the shipped SAEs). Its own
    variable, not under ``SAIF_SAES``: SAEs trained into another root (a staging folder, a user's
    own) are trained on the same corpus, not on one silently lacking the generated text."""
    return _env_path("SAIF_CORPUS", DATA_DIR / "saes" / "corpus")


def hub_offline() -> bool:
    """True when the user told Hugging Face libraries to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
