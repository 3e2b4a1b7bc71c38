"""The run configuration: a frozen dataclass whose fields are exactly the papermill
parameters (and ``saif steer`` flags) of a run, each tagged with the pipeline stage it
affects. ``cfg.key(stage)`` hashes the fields of that stage and every earlier one, so a
cached artifact is reused exactly when nothing it depends on changed:

| stage | fields | what is cached under its key |
|---|---|---|
| ``pairs`` | model (and its weights' fingerprint), task, vector_task, placement, layer, position, n_extract, seed | the pairs' residuals |
| ``vector`` | + sae (and its weights' hash), k, min_prob, vector, weighting, normalize, resample | the vector and latent table |
| ``generation`` | + alpha, positions, eval_split, contents, max_new_tokens, batch_size, repetition_penalty | the run's records |

``n_eval`` and ``conditions`` choose which records a run looks at, not what a record
holds, so they are in no key: a run on more items or conditions extends the same store.
Fields added after runs were stored (``KEY_NEUTRAL``) stay out of the key while they hold the
value that computes what runs did before the field existed, so those runs keep their keys.

Example:
    >>> cfg = RunConfig(task="translate_fr", k=8, alpha=4.0, n_eval=40)
    >>> cfg.key("vector") == cfg.replace(alpha=2.0).key("vector")
    True
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from . import assets, data, features, paths, steering
from .models import DEFAULT_MODEL, ModelError, get_spec
from .saes import SAEError, check_sae_files, default_sae_id, get_sae_spec, sae_at, sae_fingerprint

STAGES = ("pairs", "vector", "generation")
CONDITIONS = ("original", "prompted", "steered", "prompted+steered")
# saif: the top-k latents' decoder directions, weighted (``weighting``); the rest are controls:
# diff_means (mean residual with minus without the instruction), single_latent (the top latent),
# random_direction (a seeded Gaussian direction, unit norm), random_latents (k latents drawn at
# random from the SAE, equal weights, unit norm). Unit-norm controls get their strength from the
# study (the SAIF vector's norm times its alpha for a matched-norm comparison, or a dev-tuned alpha).
VECTOR_KINDS = ("saif", "diff_means", "single_latent", "random_direction", "random_latents")
# how the selected latents are weighted: by their activation difference with minus without the
# instruction (sensitivity: the paper's Fig. 1), or by their mean activation with it (strength)
WEIGHTINGS = ("difference", "strength")
# a guard against a mistyped strength, not a tuning limit: Gemma 3 270M's residual norm at its last
# layer is 8,900-36,000 by task (notebook 05), so 2x the norm (a scale the protocol tries) reaches 72,000
MAX_ALPHA = 1e6
KEY_NEUTRAL = {"weighting": "strength", "vector_task": None, "resample": None}


def model_fingerprint(model_id: str) -> str | None:
    """What a key knows of a model's weights (None for an unknown id: ``validate`` names it)."""
    try:
        return assets.weights_fingerprint(get_spec(model_id))
    except ModelError:
        return None


class ConfigError(ValueError):
    """A run configuration is invalid; the message names the parameter (and flag) and the fix."""


def problem(err: Exception) -> str:
    """An error's message without its "Fix: ..." part: what a note says of an arm that could not run."""
    return str(err).split(". Fix")[0]


def _param(default, stage: str | None, flag: str | None = None):
    return field(default=default, metadata={"stage": stage, "flag": flag})


@dataclass(frozen=True)
class RunConfig:
    model: str = _param(DEFAULT_MODEL, "pairs", "--model")
    sae: str | None = _param(None, "vector", "--sae")  # default: the model's SAE at `layer` (or its steering SAE)
    task: str = _param("translate_fr", "pairs", "--task")
    vector_task: str | None = _param(None, "pairs")  # the task whose pairs make the vector (None: task); a cross-task control
    placement: str = _param("post", "pairs", "--placement")  # of the extraction pairs
    layer: int | None = _param(None, "pairs", "--layer")  # default: the SAE's layer
    position: str = _param("last", "pairs")  # where latents are read: features.POSITIONS
    k: int = _param(8, "vector", "--k")
    min_prob: float = _param(0.5, "vector")
    alpha: float = _param(1.0, "generation", "--alpha")
    vector: str = _param("saif", "vector")  # VECTOR_KINDS ("single_latent": the top latent)
    weighting: str = _param("strength", "vector")  # WEIGHTINGS; "difference" (the protocol's) at the switch (#16)
    normalize: bool = _param(False, "vector")
    resample: int | None = _param(None, "vector")  # select on bootstrap resample number N of the pairs (None: the pairs)
    positions: str = _param("all", "generation", "--positions")  # where the vector is added: steering.POSITIONS
    n_extract: int | None = _param(None, "pairs")  # pairs (default: every extraction item, once)
    n_eval: int | None = _param(None, None, "--n")  # evaluation items (default: the whole split)
    eval_split: str = _param("evaluation", "generation")
    contents: str | None = _param(None, "generation", "--contents")  # a contents JSONL instead of the split
    conditions: tuple[str, ...] = _param(("original", "prompted", "steered"), None)
    seed: int = _param(0, "pairs")
    max_new_tokens: int = _param(128, "generation", "--max-new-tokens")  # every condition alike; stops at end of turn
    batch_size: int = _param(32, "generation", "--batch-size")
    repetition_penalty: float = _param(1.0, "generation", "--repetition-penalty")  # HF's; 1.0 = off

    def key(self, stage: str = "generation") -> str:
        """Hash of every field of ``stage`` and the stages before it, with the model weights'
        fingerprint (``assets.weights_fingerprint``) and, from ``vector`` on, the SAE's weights:
        a changed model or retrained SAE keeps its id, not its results. The judge is not in the
        key: each record carries its ``judge_version`` and a changed judge re-judges stored outputs."""
        if stage not in STAGES:
            raise ConfigError(f"stage {stage!r} is not one of {STAGES}")
        upto = STAGES[: STAGES.index(stage) + 1]
        keyed = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata["stage"] in upto
                 and not (f.name in KEY_NEUTRAL and getattr(self, f.name) == KEY_NEUTRAL[f.name])}
        weights = model_fingerprint(self.model)
        if weights is not None:
            keyed["model_weights"] = weights
        if stage != "pairs":
            keyed["sae_weights"] = sae_fingerprint(self.sae)
        blob = json.dumps(keyed, sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def extraction_key(self) -> str:
        """``key("vector")``: what the steering vector depends on."""
        return self.key("vector")

    def replace(self, **changes) -> "RunConfig":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown run parameter(s) {unknown}. Known: {[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def run_dir(self, root: Path | None = None) -> Path:
        return Path(root or paths.results_root()) / f"{self.task}-{self.key()}"

    def asdict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_file(cls, path: Path) -> "RunConfig":
        """The configuration a run folder's ``config.json`` holds (fields it does not know are ignored;
        a ``KEY_NEUTRAL`` field it lacks was written before the field existed, so it takes the value
        that computes what the run did, not today's default)."""
        raw = {**KEY_NEUTRAL, **json.loads(Path(path).read_text(encoding="utf-8"))}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known})


def name_of(parameter: str) -> str:
    """How a user sets a parameter: ``n_eval (--n)``, or the bare name if no flag has it."""
    flag = RunConfig.__dataclass_fields__[parameter].metadata["flag"]
    return f"{parameter} ({flag})" if flag else parameter


def validate(cfg: RunConfig) -> RunConfig:
    """Check every field that can be checked without loading anything; return the config
    with ``sae`` and ``layer`` resolved. Raises ConfigError (or the registries' errors)."""
    spec = get_spec(cfg.model)
    data.get_task(cfg.task)
    if cfg.vector_task is not None:
        data.get_task(cfg.vector_task)
    for name, allowed in [("placement", data.PLACEMENTS), ("position", features.POSITIONS), ("vector", VECTOR_KINDS),
                          ("weighting", WEIGHTINGS),
                          ("positions", steering.POSITIONS), ("eval_split", data.SPLIT_NAMES)]:
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"{name_of(name)}={getattr(cfg, name)!r} is not one of {allowed}. Fix: pass one of these.")
    bad = [c for c in cfg.conditions if c not in CONDITIONS]
    if bad or not cfg.conditions:
        raise ConfigError(f"conditions {list(cfg.conditions)}: each must be one of {CONDITIONS}. "
                          "Fix: name only these conditions.")
    for name in ("alpha", "min_prob", "repetition_penalty"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name_of(name)}={value!r} is not a finite number. Fix: pass a number.")
    if abs(cfg.alpha) > MAX_ALPHA:
        raise ConfigError(f"{name_of('alpha')}={cfg.alpha!r} is beyond any useful strength (|alpha| <= {MAX_ALPHA:g}); "
                          "a useful one is usually 0.1-20 x the residual norm at the layer. Fix: pass a smaller alpha.")
    if cfg.repetition_penalty <= 0:
        raise ConfigError(f"{name_of('repetition_penalty')} must be > 0 (1.0 = off), got {cfg.repetition_penalty}. "
                          "Fix: pass 1.0 (off) or a value such as 1.1-1.5.")
    if cfg.resample is not None and (isinstance(cfg.resample, bool) or not isinstance(cfg.resample, int) or cfg.resample < 0):
        raise ConfigError(f"resample={cfg.resample!r} must be a whole number >= 0 (the resample's seed) or None. "
                          "Fix: pass 0, 1, 2, ...")
    for name in ("k", "max_new_tokens", "batch_size", "n_extract", "n_eval"):
        value = getattr(cfg, name)
        optional = name in ("n_extract", "n_eval")
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name_of(name)} must be a whole number >= 1" + (" (or None for all)" if optional else "")
                              + f", got {value!r}. Fix: pass a positive whole number.")
    if cfg.layer is not None and not -spec.n_layers <= cfg.layer < spec.n_layers:
        raise ConfigError(f"{name_of('layer')}={cfg.layer} is out of range for {cfg.model} (0..{spec.last_layer}). "
                          f"Fix: pass a layer from 0 to {spec.last_layer}, or drop --layer.")
    layer = None if cfg.layer is None else cfg.layer % spec.n_layers
    if cfg.sae is not None:
        sae = cfg.sae
    elif layer is None or layer == spec.steer_layer:
        sae = default_sae_id(cfg.model)
    else:
        try:
            sae = sae_at(cfg.model, layer).id
        except SAEError as e:
            raise ConfigError(str(e)) from None
    sae_spec = get_sae_spec(sae)
    check_sae_files(sae_spec)  # a damaged SAE is refused here, before a model loads
    if sae_spec.model != cfg.model:
        raise ConfigError(f"SAE {sae} belongs to {sae_spec.model}, not {cfg.model}. Fix: pick an SAE of {cfg.model}.")
    if layer is not None and layer != sae_spec.layer:
        raise ConfigError(f"layer {layer} does not match SAE {sae} (hook {sae_spec.hook}). "
                          "Fix: drop --layer, or pass an SAE trained at that layer.")
    if cfg.contents is not None and not Path(cfg.contents).is_file():
        raise ConfigError(f"{name_of('contents')}: the file {cfg.contents} does not exist. Fix: pass a contents JSONL.")
    if cfg.k > sae_spec.d_sae:
        raise ConfigError(f"{name_of('k')}={cfg.k} is more than the {sae_spec.d_sae} latents of SAE {sae}. "
                          "Fix: pass a smaller --k (the paper uses 1-24).")
    return dataclasses.replace(cfg, sae=sae, layer=sae_spec.layer)
