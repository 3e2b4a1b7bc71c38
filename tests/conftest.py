"""Shared fixtures. Tests never touch the network: the hub is marked offline."""
import os

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
