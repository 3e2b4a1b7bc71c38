"""Training one SAE on CPU: cached activations -> sae-lens' ``SAETrainer`` -> a BatchTopK SAE.

* ``cache_activations``: one batched HF forward pass over the training documents captures
  every requested layer at once (``SaifModel.capture``), stored as fp16 memmaps in a
  subfolder named after the documents' tokens, so that a run on another corpus (another
  ``--tokens``) starts its own cache beside the existing ones instead of overwriting them.
  Position 0 of every document (an attention sink with an outsized norm) is left out, as in
  ``sae_metrics``. Resumes after a kill.
* ``ActivationBatches``: endless shuffled batches of the cache, resumable by position.
* ``train_sae``: sae-lens' ``SAETrainer`` with a ``BatchTopKTrainingSAE`` fed from the cache,
  activations normalised to mean norm sqrt(d_in) (Gemma Scope's convention) and the scale
  folded into the weights at the end. A checkpoint is written every few minutes and picked
  up on restart when the settings match.

``SAETrainSettings`` holds one SAE's hyperparameters, written to its ``training_config.json``.

Example:
    >>> s = sae_settings("toy", layer=0, d_sae=32, tokens=2048, d_model=16, k=4, batch_size=128)
    >>> sae, history, seconds = train_sae(acts, s, ckpt_dir, context_size=8, prepend_bos=False)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .corpus import CORPUS_VERSION
from .models import SaifModel, hook_name

CACHE_PRECISIONS = ("bf16-autocast", "fp32")  # see cache_activations
WIDE_LR = 3e-4  # learning rate of SAEs wider than 8x d_model
# Decoder-row norm at init of SAEs wider than 8x d_model. With sae-lens' 0.1, SmolLM2's 32x
# SAE lost 12,600 of its 18,432 latents between steps 50 and 150 (Adam's first steps at lr 3e-4
# dwarf weights that small, and the latents that fire first take every top-k slot); neither
# the auxiliary loss (coefficient 1 or 8, dead window 25 to 100 steps), nor resampling dead
# latents at the worst-reconstructed tokens, nor top-k on decoder-scaled pre-activations
# brought them back (each measured over 200-250 steps, data/saes/README.md). Unit-norm rows,
# as in Gao et al. (2024), left none dead at step 175.
WIDE_DECODER_INIT_NORM = 1.0
# Models whose SAEs start at unit-norm decoder rows at every width: at 0.1, Qwen2.5-Coder's 4x
# SAEs lost most latents in the first 250-300 steps (layer 5: 2,731 of 3,584 silent for 100 steps
# at step 250) and its layer-5 SAE ended with 11.8% dead on held-out text; at 1: 49 silent.
MODEL_DECODER_INIT_NORM = {"qwen2.5-coder-0.5b-instruct": 1.0}


@dataclasses.dataclass(frozen=True)
class SAETrainSettings:
    """Hyperparameters of one SAE run (written to ``training_config.json``)."""

    model: str
    layer: int
    d_sae: int
    tokens: int
    k: int = 64
    batch_size: int = 1024
    lr: float = 4e-4
    warmup_steps: int = 50
    decay_fraction: float = 0.2
    dead_feature_window: int = 100  # steps without firing before the aux loss revives a latent
    aux_loss_coefficient: float = 1.0  # sae-lens default; 1/32 left 40% of latents dead here
    seed: int = 0
    b_dec_init: str = "mean"  # mean of the (normalised) activations; "zeros": sae-lens' default
    normalize_activations: str = "expected_average_only_in"
    architecture: str = "batchtopk (saved as jumprelu)"
    corpus_version: int = CORPUS_VERSION  # a checkpoint from another corpus is not resumed
    # Norm of the decoder rows at init; the encoder starts as their transpose. sae-lens'
    # default 0.1 is fine up to 8x; at 32x it let ~70% of the latents die in the first 150
    # steps, for good (see WIDE_DECODER_INIT_NORM).
    decoder_init_norm: float = 0.1


def sae_settings(model_id: str, layer: int, d_sae: int, tokens: int, d_model: int, lr: float | None = None,
                 decoder_init_norm: float | None = None, **knobs) -> SAETrainSettings:
    """One SAE's settings; ``lr`` and ``decoder_init_norm`` (None) default by width: the
    dataclass' values up to 8x ``d_model``, ``WIDE_LR`` and ``WIDE_DECODER_INIT_NORM`` wider
    (``MODEL_DECODER_INIT_NORM`` sets a model's init norm at every width)."""
    wide = d_sae > 8 * d_model
    return SAETrainSettings(
        model=model_id, layer=layer, d_sae=d_sae, tokens=tokens, lr=lr or (WIDE_LR if wide else SAETrainSettings.lr),
        decoder_init_norm=decoder_init_norm or MODEL_DECODER_INIT_NORM.get(
            model_id, WIDE_DECODER_INIT_NORM if wide else SAETrainSettings.decoder_init_norm),
        **knobs)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- activations


def cache_key(token_lists: list[list[int]], layers: list[int], batch_size: int, precision: str) -> dict:
    """What an activation cache was made from: the documents (a hash of their token ids),
    the layers, the batch size (it sets the order the cache is filled in) and the precision."""
    h = hashlib.sha256()
    for ids in token_lists:
        h.update(np.asarray(ids, dtype=np.int64).tobytes())
        h.update(b"|")
    return {"n_rows": sum(len(t) - 1 for t in token_lists), "layers": sorted(layers), "n_docs": len(token_lists),
            "tokens_sha256": h.hexdigest(), "batch_size": batch_size, "precision": precision}


def cache_folder(root: Path, key: dict) -> Path:
    """``root/<n_rows>tok-<digest of key>``: one folder per cache key."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return Path(root) / f"{key['n_rows']}tok-{digest}"


@torch.no_grad()
def cache_activations(model: SaifModel, token_lists: list[list[int]], layers: list[int], folder: Path,
                      batch_size: int = 32, max_seconds: float | None = None,
                      precision: str = "bf16-autocast") -> tuple[dict[int, Path], int]:
    """fp16 memmaps ``acts_L{layer}.npy`` of shape (n_tokens, d_model), position 0 of
    every sequence left out, in ``folder/<cache key>/`` (``cache_folder``): the key hashes
    the documents' token ids, the layers, the batch size and the precision, so a cache is
    reused only for the very corpus it was made from, and a cache of another corpus is left
    untouched (listed in the log with its size, to be deleted by hand). Resumes from
    ``progress.json`` after a kill. With
    ``max_seconds``, stops after about that long; returns ``(paths, rows filled)``: the
    filled prefix is a fair sample (batches are visited in a random order) and a later
    call goes on filling.

    ``precision``: ``"bf16-autocast"`` (the default) runs the forward pass under CPU
    autocast to bfloat16, the residual sums staying fp32: 940 against 570 tok/s on
    SmolLM2 here, at a mean relative error of 0.6% (layer 5) to 1.2% (layer 29) against
    fp32, far below an SAE's reconstruction error (FVU 0.1 is about 30%). ``"fp32"``
    is exact. Held-out metrics are always measured in fp32."""
    if precision not in CACHE_PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {sorted(CACHE_PRECISIONS)}")
    d = model.spec.d_model
    key = cache_key(token_lists, layers, batch_size, precision)
    n_rows = key["n_rows"]
    root, folder = folder, cache_folder(folder, key)
    folder.mkdir(parents=True, exist_ok=True)
    others = [p for p in root.iterdir() if p != folder and (p.is_dir() or p.suffix in (".npy", ".json"))]
    if others:
        size = sum(f.stat().st_size for p in others for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
        log(f"activation cache {folder.name}; other caches in {root} ({size / 2**30:.1f} GiB, left untouched; "
            f"delete them to free the disk): " + ", ".join(sorted(p.name for p in others)))
    paths = {L: folder / f"acts_L{L}.npy" for L in layers}
    progress_path = folder / "progress.json"
    progress = json.loads(progress_path.read_text()) if progress_path.exists() else None
    if progress is None or progress["key"] != key:
        progress = {"key": key, "batches_done": 0, "rows_done": 0, "done": False}
        for p in paths.values():
            np.lib.format.open_memmap(p, mode="w+", dtype=np.float16, shape=(n_rows, d)).flush()
    if progress["done"]:
        return paths, n_rows
    if max_seconds is not None and max_seconds <= 0:
        return paths, progress["rows_done"]
    maps = {L: np.load(p, mmap_mode="r+") for L, p in paths.items()}
    # batches of similar lengths (little padding), visited in a seeded random order so
    # that any prefix of the cache is a fair sample of the corpus
    order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    random.Random(len(batches)).shuffle(batches)
    row = progress["rows_done"]
    t0, rows0, secs0 = time.perf_counter(), row, progress.get("seconds", 0.0)
    for b in range(progress["batches_done"], len(batches)):
        ids, mask = model.pad([token_lists[i] for i in batches[b]], side="right")
        keep = mask.bool()
        keep[:, 0] = False
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-autocast"):
            captured = {L: r[keep] for L, r in model.capture(ids, mask, layers).items()}
        n = int(keep.sum())
        for L in layers:
            maps[L][row : row + n] = captured[L].float().cpu().numpy().astype(np.float16)
        row += n
        if b % 20 == 19 or b == len(batches) - 1:
            for m in maps.values():
                m.flush()
            progress.update(batches_done=b + 1, rows_done=row, seconds=round(secs0 + time.perf_counter() - t0, 1))
            progress_path.write_text(json.dumps(progress))
            rate = (row - rows0) / (time.perf_counter() - t0)
            log(f"cached {row}/{n_rows} tokens x {len(layers)} layers ({rate:.0f} tok/s)")
            if max_seconds is not None and time.perf_counter() - t0 > max_seconds and b < len(batches) - 1:
                log(f"caching paused after {max_seconds:.0f} s; training on the {row} tokens cached so far")
                return paths, row
    assert row == n_rows, (row, n_rows)
    progress["done"] = True
    progress_path.write_text(json.dumps(progress))
    return paths, n_rows


class ActivationBatches:
    """Endless shuffled batches of cached activations (float32), an epoch at a time;
    the position is a sample count, so a resumed run continues where it stopped."""

    def __init__(self, acts: torch.Tensor, batch_size: int, seed: int = 0, start: int = 0):
        self.acts, self.batch_size, self.seed, self.pos = acts, batch_size, seed, start
        self._epoch, self._perm = -1, None

    def __iter__(self):
        return self

    def _perm_for(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1000 + epoch)
            self._perm, self._epoch = torch.randperm(len(self.acts), generator=g), epoch
        return self._perm

    def __next__(self) -> torch.Tensor:
        n, parts, need = len(self.acts), [], self.batch_size
        while need > 0:
            epoch, off = divmod(self.pos, n)
            take = min(need, n - off)
            parts.append(self._perm_for(epoch)[off : off + take])
            self.pos += take
            need -= take
        return self.acts[torch.cat(parts)].float()


# ---------------------------------------------------------------- training


def _trainer_class():
    from sae_lens.training.sae_trainer import SAETrainer

    class LoggingTrainer(SAETrainer):
        """sae-lens' trainer plus a training curve and time-based checkpoints."""

        log_every = 50
        ckpt_every_s = 300.0
        ckpt_dir: Path | None = None
        history: list
        _last_ckpt = 0.0
        _t_start = 0.0
        elapsed_before = 0.0

        def step(self, batch):
            out = super().step(batch)
            if self.n_training_steps % self.log_every == 0 or self.n_training_samples >= self.cfg.total_training_samples:
                with torch.no_grad():
                    x, x_hat = out.sae_in.float(), out.sae_out.float()
                    fvu = ((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()).item()
                    l0 = (out.feature_acts != 0).float().sum(-1).mean().item()
                rec = {"step": self.n_training_steps, "tokens": self.n_training_samples,
                       "loss": out.loss.item(), "fvu": fvu, "l0": l0,
                       "dead": int(self.dead_neurons.sum()), "lr": self.optimizer.param_groups[0]["lr"],
                       "elapsed_s": round(self.elapsed(), 1)}
                self.history.append(rec)
                log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
            return out

        def elapsed(self) -> float:
            return self.elapsed_before + time.perf_counter() - self._t_start

        def _checkpoint_if_needed(self):
            if self.ckpt_dir is not None and time.perf_counter() - self._last_ckpt > self.ckpt_every_s:
                self.save_latest()

        def save_latest(self):
            tmp = self.ckpt_dir / "latest.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self.save_checkpoint("latest.tmp", base_path=self.ckpt_dir)
            (tmp / "history.json").write_text(json.dumps({"history": self.history, "elapsed_s": self.elapsed(),
                                                         "settings": self.settings}))
            final = self.ckpt_dir / "latest"
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            self._last_ckpt = time.perf_counter()
            log(f"checkpoint at {self.n_training_samples} tokens -> {final}")

    return LoggingTrainer


def train_sae(acts: torch.Tensor, s: SAETrainSettings, ckpt_dir: Path, context_size: int,
              prepend_bos: bool, log_every: int = 50, ckpt_every_s: float = 300.0):
    """Train one BatchTopK SAE with sae-lens' SAETrainer; returns ``(sae, history, seconds)``."""
    from safetensors.torch import load_file
    from sae_lens import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(s.seed)
    d_in = acts.shape[1]
    steps = max(1, s.tokens // s.batch_size)
    cfg = BatchTopKTrainingSAEConfig(
        d_in=d_in, d_sae=s.d_sae, k=s.k, dtype="float32", device="cpu",
        normalize_activations=s.normalize_activations, aux_loss_coefficient=s.aux_loss_coefficient,
        decoder_init_norm=s.decoder_init_norm,
        metadata=SAEMetadata(model_name=s.model, hook_name=hook_name(s.layer),
                             context_size=context_size, prepend_bos=prepend_bos),
    )
    sae = BatchTopKTrainingSAE(cfg)
    tcfg = SAETrainerConfig(
        total_training_samples=steps * s.batch_size, train_batch_size_samples=s.batch_size, lr=s.lr,
        lr_end=s.lr / 20, lr_warm_up_steps=min(s.warmup_steps, steps // 10),
        lr_decay_steps=int(s.decay_fraction * steps), device="cpu",
        dead_feature_window=s.dead_feature_window, feature_sampling_window=10**9,
        n_batches_for_norm_estimate=min(100, max(1, len(acts) // s.batch_size)),
    )
    latest = ckpt_dir / "latest"
    history, before = [], 0.0
    resume = (latest / "trainer_state.pt").exists()
    if resume:
        meta = json.loads((latest / "history.json").read_text())
        if meta.get("settings") != dataclasses.asdict(s):
            log(f"ignoring the checkpoint in {latest}: it was made with other settings")
            resume = False
    if resume:
        sae.load_state_dict(load_file(str(latest / "sae_weights.safetensors")))
        history, before = meta["history"], meta["elapsed_s"]
    trainer = _trainer_class()(tcfg, sae, ActivationBatches(acts, s.batch_size, s.seed))
    trainer.settings = dataclasses.asdict(s)
    if not resume and s.b_dec_init == "mean":
        # The residual stream has a large mean (at SmolLM2's last layer its norm is about half
        # the tokens' mean norm): starting b_dec there keeps the latents from all fitting the
        # mean, which left most of them dead.
        sample = acts[: min(len(acts), 100_000)].float()
        scale = d_in**0.5 / sample.norm(dim=-1).mean().item()
        trainer.activation_scaler.scaling_factor = scale
        with torch.no_grad():
            sae.b_dec.data = (sample.mean(0) * scale).to(sae.b_dec.dtype)
    if resume:
        trainer.load_trainer_state(latest)
        trainer.n_training_steps = trainer.n_training_samples // s.batch_size
        trainer.data_provider.pos = trainer.n_training_samples
        log(f"resumed from {latest} at {trainer.n_training_samples} tokens")
    trainer.history, trainer.elapsed_before = history, before
    trainer.log_every, trainer.ckpt_every_s, trainer.ckpt_dir = log_every, ckpt_every_s, ckpt_dir
    trainer._t_start = trainer._last_ckpt = time.perf_counter()
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    sae = trainer.fit()
    return sae, trainer.history, trainer.elapsed()
