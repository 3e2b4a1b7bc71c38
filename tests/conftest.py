"""Shared fixtures. Tests never touch the network: the hub is marked offline."""
import os
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def smollm():
    from saif_core.models import load_model

    return load_model("smollm2-135m-instruct", device="cpu")


@pytest.fixture(scope="session")
def gemma():
    from saif_core.models import load_model

    return load_model("gemma-3-270m", device="cpu")


@pytest.fixture(scope="session")
def qwen():
    from saif_core.models import load_model

    return load_model("qwen2.5-coder-0.5b-instruct", device="cpu")


# ---------------------------------------------------------------- the tiny random model
# A 3-layer random Llama with a real (tiny, offline-trained) tokenizer and ChatML template:
# every hook, capture, steering and pipeline path runs on it in milliseconds, so those
# tests are not `slow`. See tests/tiny_model.py.

TINY_ID = "tiny-llama"
TINY_LAYERS, TINY_D, TINY_STEER_LAYER = 3, 64, 1


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """The tiny model's checkpoint folder (save_pretrained layout), built once per session."""
    from tiny_model import build_tiny_llama

    folder = tmp_path_factory.mktemp("tiny_llama_ckpt") / "model"
    return build_tiny_llama(folder, n_layers=TINY_LAYERS, d_model=TINY_D)


@pytest.fixture(scope="module")
def tiny_llama(tiny_llama_dir):
    """The tiny model registered as ``tiny-llama`` (source "local") and loaded on CPU through
    ``models.load_model``; unregistered after the module, so other modules never see it."""
    from tiny_model import unregister

    from saif_core import models

    models.register_model(models.ModelSpec(
        id=TINY_ID, source="local", tl_name=None, hf_name=str(tiny_llama_dir), n_layers=TINY_LAYERS,
        d_model=TINY_D, chat=True, steering_layer=TINY_STEER_LAYER, notes="tests: tiny random Llama"))
    try:
        yield models.load_model(TINY_ID, device="cpu")
    finally:
        unregister(TINY_ID)


@pytest.fixture(scope="session")
def tiny_sae_root(tmp_path_factory):
    """An SAE root holding an identity SAE of the tiny model at its steering layer."""
    from sae_factory import make_sae

    root = tmp_path_factory.mktemp("tiny_saes")
    sae_id = make_sae(root, model=TINY_ID, layer=TINY_STEER_LAYER, d_in=TINY_D, kind="identity")
    return SimpleNamespace(root=root, sae_id=sae_id)


@pytest.fixture
def tiny_env(tiny_llama, tiny_sae_root, tmp_path, monkeypatch):
    """The tiny model plus the package pointed at its SAE root and a scratch results store."""
    results = tmp_path / "results"
    monkeypatch.setenv("SAIF_SAES", str(tiny_sae_root.root))
    monkeypatch.setenv("SAIF_RESULTS", str(results))
    return SimpleNamespace(model=tiny_llama, sae_root=tiny_sae_root.root, sae_id=tiny_sae_root.sae_id, results=results)
