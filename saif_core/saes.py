"""SAE registry and loading (their health metrics: ``saif_core.sae_metrics``).

Two kinds of SAE, both plain sae-lens ``SAE`` modules:

* shipped: trained by this project (``make saes``) and committed under
  ``data/saes/<model>/<hook>/width_<d_sae>/`` in sae-lens' on-disk format
  (``cfg.json`` + ``sae_weights.safetensors``), found by scanning that folder. Their id
  is that relative path, e.g. ``smollm2-135m-instruct/blocks.29.hook_resid_post/width_4608``.
* paper profile: Gemma Scope, loaded by sae-lens release and id from the hub; their id
  is ``<release>/<sae_id>``, e.g. ``gemma-scope-2b-pt-res-canonical/layer_25/width_16k/canonical``.

Example:
    >>> from saif_core.saes import default_sae_id, load_sae
    >>> sae = load_sae(default_sae_id("smollm2-135m-instruct"))
    >>> sae.cfg.d_in, sae.cfg.d_sae
    (576, 4608)
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from . import assets, paths
from .contents import DataError, check_unicode, read_lines
from .models import MODELS, ModelError, SaifModel, get_spec, hook_name


def sae_root(root: Path | None = None) -> Path:
    """The folder of shipped SAEs: ``root`` if given, else ``$SAIF_SAES`` (default data/saes)."""
    return Path(root) if root is not None else paths.sae_root()


class SAEError(RuntimeError):
    """An SAE could not be found, loaded, or does not fit the model; the message names the fix."""


@dataclass(frozen=True)
class SAESpec:
    id: str
    model: str
    layer: int
    d_sae: int
    path: Path | None = None  # shipped
    release: str | None = None  # hub (sae-lens registry)
    sae_id: str | None = None

    @property
    def hook(self) -> str:
        return hook_name(self.layer)

    @property
    def source(self) -> str:
        return "shipped" if self.path is not None else "hub"


def _gemma_scope(model: str, size: str, layer: int, width: str, d_sae: int) -> SAESpec:
    release = f"gemma-scope-{size}-pt-res-canonical"
    sae_id = f"layer_{layer}/width_{width}/canonical"
    return SAESpec(f"{release}/{sae_id}", model, layer, d_sae, release=release, sae_id=sae_id)


PAPER_SAES = [
    _gemma_scope("gemma-2-2b-it", "2b", 25, "16k", 16384),
    _gemma_scope("gemma-2-2b-it", "2b", 25, "65k", 65536),
    _gemma_scope("gemma-2-9b-it", "9b", 41, "16k", 16384),
    _gemma_scope("gemma-2-9b-it", "9b", 41, "131k", 131072),
]


def shipped_saes(root: Path | None = None) -> list[SAESpec]:
    """SAEs found on disk under ``root`` (default ``sae_root()``). A folder whose
    ``cfg.json`` cannot be read is left out here and reported by ``broken_saes``, so one
    damaged SAE never hides the healthy ones."""
    return _scan(sae_root(root))[0]


def broken_saes(root: Path | None = None) -> list[tuple[Path, str]]:
    """``(folder, problem with the fix)`` for every SAE folder whose ``cfg.json`` is unreadable."""
    return _scan(sae_root(root))[1]


def _scan(root: Path) -> tuple[list[SAESpec], list[tuple[Path, str]]]:
    specs, broken = [], []
    for cfg_path in sorted(root.glob("*/blocks.*.hook_resid_post/width_*/cfg.json")):
        folder = cfg_path.parent
        model, hook = folder.parent.parent.name, folder.parent.name
        try:
            d_sae = int(json.loads(cfg_path.read_text())["d_sae"])
            layer = int(hook.split(".")[1])
        except (OSError, ValueError, KeyError, TypeError) as e:
            broken.append((folder, f"{cfg_path} is not a valid sae-lens cfg.json ({type(e).__name__}: {e}). "
                                   "Fix: `git checkout -- data/saes` or retrain it with `make saes`."))
            continue
        specs.append(SAESpec(str(folder.relative_to(root)), model, layer, d_sae, path=folder))
    return specs, broken


def registry(root: Path | None = None) -> dict[str, SAESpec]:
    return {s.id: s for s in [*shipped_saes(root), *PAPER_SAES]}


def sae_fingerprint(sae_id: str | None, root: Path | None = None) -> str | None:
    """A short hash of a shipped SAE's ``cfg.json`` and weights, so that results keyed by
    an SAE id are never reused after the SAE is retrained under the same id. ``None`` for
    no SAE, an unknown id, or a hub SAE (its release and id pin the weights)."""
    spec = registry(root).get(sae_id) if sae_id else None
    if spec is None or spec.path is None:
        return None
    return folder_fingerprint(spec.path)


def folder_fingerprint(folder: Path) -> str:
    """Short hash of an SAE folder's ``cfg.json`` and weights (memoised by mtime and size)."""
    files = [folder / "cfg.json", folder / "sae_weights.safetensors"]
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists())
    return _hash_files(stamp)


@functools.lru_cache(maxsize=64)
def _hash_files(stamp: tuple) -> str:
    h = hashlib.sha256()
    for path, _, _ in stamp:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:12]


def sae_at(model_id: str, layer: int, d_sae: int | None = None, root: Path | None = None) -> SAESpec:
    """The SAE of ``model_id`` at ``layer`` (of width ``d_sae``; None: the narrowest).
    Raises SAEError naming the layers and widths that exist."""
    mine = [s for s in registry(root).values() if s.model == model_id]
    at = [s for s in mine if s.layer == layer and (d_sae is None or s.d_sae == d_sae)]
    if not at:
        have = sorted({(s.layer, s.d_sae) for s in mine})
        for folder, problem in broken_saes(root):
            if folder.parent.parent.name == model_id and folder.parent.name == hook_name(layer):
                raise SAEError(f"the SAE of {model_id} at layer {layer} is damaged: {problem}")
        raise SAEError(f"no SAE of {model_id} at layer {layer}" + (f" with width {d_sae}" if d_sae else "") +
                       f"; (layer, width) with SAEs: {have}. Fix: pick one of those, pass an SAE id, "
                       "or train one with `make saes`.")
    return min(at, key=lambda s: s.d_sae)


def saes_of(model_id: str, root: Path | None = None) -> list[SAESpec]:
    """Every registered SAE of a model, by layer then width."""
    return sorted((s for s in registry(root).values() if s.model == model_id), key=lambda s: (s.layer, s.d_sae))


def default_sae_id(model_id: str, root: Path | None = None) -> str:
    """The steering SAE of a model: at its steering layer (``ModelSpec.steer_layer``: the
    last layer as in the paper, or the layer chosen on the dev split), narrowest width
    (16K for Gemma Scope)."""
    spec = get_spec(model_id)
    try:
        return sae_at(model_id, spec.steer_layer, root=root).id
    except SAEError:
        where = sae_root(root)
        missing = "" if where.is_dir() else " (that folder does not exist)"
        raise SAEError(
            f"no SAE for {model_id} at its steering layer ({spec.steer_layer}) under {where} (SAIF_SAES){missing}. "
            "Fix: point SAIF_SAES at the shipped SAEs (or unset it), train them with `make saes`, "
            "or pass an SAE id."
        ) from None


def get_sae_spec(sae_id: str, root: Path | None = None) -> SAESpec:
    reg = registry(root)
    if sae_id not in reg:
        for folder, problem in broken_saes(root):
            if str(folder).endswith(sae_id.rstrip("/")):
                raise SAEError(f"SAE {sae_id} is damaged: {problem}")
        raise SAEError(f"unknown SAE id {sae_id!r} under {sae_root(root)} (SAIF_SAES). Known ids: "
                       + (", ".join(reg) or "none") + ". Fix: pass one of these, or train the missing SAE "
                       "with `make saes`.")
    return reg[sae_id]


ARCHITECTURES = ("jumprelu", "standard", "topk", "batchtopk", "gated")


def check_sae_files(spec: SAESpec) -> None:
    """Check a shipped SAE's folder before any model or weights load (known architecture, ``d_in`` =
    ``d_model``, whole safetensors file, W_enc/W_dec shapes); SAEError with the path and the fix."""
    if spec.source != "shipped":
        return
    fix = "Fix: `git checkout -- data/saes` or retrain it with `make saes`."
    cfg = json.loads((spec.path / "cfg.json").read_text())
    d_in = cfg.get("d_in")
    if cfg.get("architecture") not in ARCHITECTURES:
        raise SAEError(f"SAE {spec.id}: cfg.json names architecture {cfg.get('architecture')!r}, not one of "
                       f"{ARCHITECTURES} ({spec.path / 'cfg.json'}). {fix}")
    if spec.model in MODELS and d_in != get_spec(spec.model).d_model:
        raise SAEError(f"SAE {spec.id}: its d_in is {d_in!r} but {spec.model} has d_model "
                       f"{get_spec(spec.model).d_model} ({spec.path / 'cfg.json'}). {fix}")
    weights = spec.path / "sae_weights.safetensors"
    if not weights.exists():
        raise SAEError(f"SAE {spec.id}: {weights} is missing. {fix}")
    try:
        size = weights.stat().st_size
        with open(weights, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 2 <= n <= size - 8:
                raise ValueError("no header")
            header = json.loads(f.read(n))
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        end = max(v["data_offsets"][1] for v in tensors.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise SAEError(f"SAE {spec.id}: {weights} is not a safetensors file ({size:,} bytes). {fix}") from None
    if size < 8 + n + end:
        raise SAEError(f"SAE {spec.id}: {weights} is truncated ({size:,} of {8 + n + end:,} bytes). {fix}")
    expected = {"W_enc": [d_in, spec.d_sae], "W_dec": [spec.d_sae, d_in]}
    wrong = [f"{k} {tensors.get(k, {}).get('shape')} (expected {v})" for k, v in expected.items()
             if tensors.get(k, {}).get("shape") != v]
    if wrong:
        raise SAEError(f"SAE {spec.id}: {weights} holds " + "; ".join(wrong) + f". {fix}")


_LOADED: dict = {}


def load_sae(sae_id: str, model: SaifModel | None = None, device: str = "cpu", root: Path | None = None):
    """Load an SAE by id (fp32, eval mode), once per process and device: a retrained SAE
    (new weights under the same id) is loaded afresh. With ``model``, check that it fits."""
    spec = get_sae_spec(sae_id, root)
    key = (sae_id, str(spec.path), device, sae_fingerprint(sae_id, root))
    if key not in _LOADED:
        _LOADED[key] = _load(spec, device)
    sae = _LOADED[key]
    if model is not None:
        check_fits(sae, spec, model)
    return sae


def _load(spec: SAESpec, device: str):
    from sae_lens import SAE

    sae_id = spec.id
    if spec.source == "shipped":
        check_sae_files(spec)
        try:
            sae = SAE.load_from_disk(spec.path, device=device, dtype="float32")
        except Exception as e:  # sae-lens raises many kinds for a damaged folder
            raise SAEError(f"SAE {sae_id} in {spec.path} cannot be loaded ({type(e).__name__}: {e}). "
                           "Fix: `git checkout -- data/saes` or retrain it with `make saes`.") from None
    else:
        if not assets.hub_reachable():
            raise SAEError(
                f"SAE {sae_id} comes from the Hugging Face hub (sae-lens release {spec.release}), which "
                "cannot be reached from here. Fix: run on a machine with hub access (the paper profile), "
                "or use a shipped SAE of an embedded model."
            )
        sae = SAE.from_pretrained(spec.release, spec.sae_id, device=device)
    sae.eval()
    sae.requires_grad_(False)
    return sae


def check_fits(sae, spec: SAESpec, model: SaifModel) -> None:
    """Raise SAEError when the SAE was not trained on this model's residual stream."""
    problems = []
    if spec.model != model.id:
        problems.append(f"it was trained on {spec.model}, not {model.id}")
    if sae.cfg.d_in != model.spec.d_model:
        problems.append(f"its d_in is {sae.cfg.d_in} but {model.id} has d_model {model.spec.d_model}")
    hook = sae.cfg.metadata.hook_name
    if hook is not None and hook != spec.hook:
        problems.append(f"its cfg says hook {hook} but it is registered at {spec.hook}")
    if problems:
        raise SAEError(
            f"SAE {spec.id} does not fit model {model.id}: " + "; ".join(problems) +
            f". Fix: pick an SAE of {model.id} (see `saif doctor`), e.g. {_first_sae_of(model.id)}."
        )


def _first_sae_of(model_id: str) -> str:
    try:
        return default_sae_id(model_id)
    except SAEError:
        return "none shipped yet (run `make saes`)"


def read_text_file(path: str | Path) -> list[str]:
    """Documents of a text file: one per non-empty line (a .jsonl file: its "text" fields)."""
    path = Path(path)
    try:
        lines = read_lines(path)
    except DataError as e:
        raise SAEError(f"--text-file: {e}") from None
    docs = [] if path.suffix == ".jsonl" else [line for _, line in lines]
    if path.suffix == ".jsonl":
        for i, line in lines:
            try:
                text = json.loads(line)["text"]
                if not isinstance(text, str):
                    raise TypeError(f"'text' is {type(text).__name__}, not a string")
                check_unicode(text, f"{path}, line {i}")
            except (ValueError, KeyError, TypeError) as e:
                raise SAEError(f"{path}:{i}: not a JSON object with a \"text\" field (line {i}: {e}). "
                               "Fix: one {\"text\": ...} object per line.") from None
            docs.append(text)
    if not any(d.strip() for d in docs):
        raise SAEError(f"--text-file {path} holds no text. Fix: one document per line (or .jsonl with \"text\").")
    return docs


__all__ = ["SAEError", "SAESpec", "PAPER_SAES", "registry", "shipped_saes", "broken_saes", "sae_at", "saes_of",
           "sae_root", "default_sae_id", "get_sae_spec", "check_sae_files", "load_sae", "check_fits",
           "read_text_file", "MODELS", "ModelError"]
