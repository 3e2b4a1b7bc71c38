"""The SAE training path end to end on a tiny budget: corpus -> cached activations ->
sae-lens SAETrainer -> shipped fp16 folder -> load by id -> held-out metrics. Offline."""
import json
from pathlib import Path

import pytest
import torch

from saif_core import corpus, sae_training, saes
from saif_core import train_saes as T


def test_corpus_covers_the_languages_and_both_placements():
    docs = corpus.task_prompts(seed=0)
    assert {d["lang"] for d in docs} >= set(corpus.LANGS)
    assert {d["placement"] for d in docs} == {"pre", "post"}
    assert len(corpus.seed_prompts()) == 20 * 5 * len(corpus.LANGS)


def test_sae_root_elsewhere_trains_on_the_same_corpus(tmp_path, monkeypatch):
    """SAEs trained into another root (SAIF_SAES: a staging folder) read the committed
    generated text, not an empty corpus folder under that root; SAIF_CORPUS moves it."""
    shipped = corpus.read_generated()
    monkeypatch.setenv("SAIF_SAES", str(tmp_path / "staging"))
    assert len(shipped) > 0 and corpus.read_generated() == shipped
    monkeypatch.setenv("SAIF_CORPUS", str(tmp_path / "corpus"))
    assert corpus.generated_file() == tmp_path / "corpus" / "generated.jsonl" and corpus.read_generated() == []


def test_generated_text_from_an_earlier_draw_is_frozen_and_a_cut_one_resumes(tmp_path):
    """make saes may run with generation on: the committed file, made from an earlier draw of
    prompts, is never added to (that would change every model's corpus); a file of today's
    draw cut short by a kill gets only what it lacks."""
    prompts = [{"id": f"p{i}", "prompt": f"prompt {i}"} for i in range(4)]
    path = tmp_path / "generated.jsonl"
    assert corpus.generation_todo(prompts, path)[0] == prompts  # none yet: all of them
    path.write_text("".join(json.dumps({**p, "response": "r"}) + "\n" for p in prompts[:2]))
    todo, why = corpus.generation_todo(prompts, path)
    assert [p["id"] for p in todo] == ["p2", "p3"] and why == "2 of 4 prompts to generate"
    path.write_text(json.dumps({"id": "old", "prompt": "from another draw", "response": "r"}) + "\n")
    todo, why = corpus.generation_todo(prompts, path)
    assert todo == [] and "earlier draw" in why and "frozen" in why
    # the shipped file is such a file: today's draw would otherwise add to it
    shipped_todo, shipped_why = corpus.generation_todo(corpus.generation_prompts(0))
    assert shipped_todo == [] and "frozen" in shipped_why


def test_the_corpus_holds_no_evaluation_content_in_any_formatting(tiny_llama):
    """Corpus v3 (#15): no content item of any task's evaluation split, nor a generation
    prompted with one, reaches the SAE corpus, training or held-out."""
    from saif_core import data

    excluded = corpus.excluded_contents()
    splits = data.load_splits()["tasks"]
    assert excluded == sorted({c for t in splits.values() for c in t["evaluation"]}) and len(excluded) > 100
    texts = [it.text for cid, it in data.all_contents().items() if cid in set(excluded)]
    gen_prompts = [g["prompt"] for g in corpus.read_generated()]
    assert any(t in p for t in texts for p in gen_prompts)  # the committed generations do hold some
    docs = corpus.build_documents(tiny_llama)
    assert not [d["id"] for d in docs if any(t in d["text"] for t in texts)]
    assert not {f"content/{c}" for c in excluded} & {d["group"] for d in docs}
    # the held-out part's extra task prompts too
    _, heldout, _ = corpus.split_corpus(tiny_llama, 2000, heldout_max_docs=40)
    assert not [d["id"] for d in heldout if any(t in d["text"] for t in texts)]
    dig = corpus.excluded_contents_digest()
    assert dig["n"] == len(excluded) and dig == corpus.excluded_contents_digest(list(reversed(excluded)))


# the corpus' content documents per corpus version: sha256 of the task prompts (training and
# held-out draws) and the plain contents, by id and text. Contents dealt into the splits later
# (``splits.json``'s ``added``) must leave it as it was, so every model's SAEs share one corpus.
CONTENT_DOCS_SHA256 = {3: "eb65a8211ad971dde02ef0567c5fe2fc882677697efd798a39bf23380d4eff4d"}


def test_contents_added_to_the_splits_later_leave_the_corpus_as_it_was():
    import hashlib

    from saif_core import data

    tp = corpus.task_prompts(seed=0, variants_per_item=corpus.TASK_VARIANTS_PER_ITEM)
    extra = corpus.task_prompts(seed=1, variants_per_item=20)
    plain = corpus.plain_contents()
    rows = [[d["id"], d["prompt"]] for d in tp + extra] + [[d["id"], d["text"]] for d in plain]
    digest = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
    assert digest == CONTENT_DOCS_SHA256[corpus.CORPUS_VERSION]
    added = {cid for ids in data.load_splits().get("added", {}).values() for cid in ids}
    assert added <= corpus.left_out_contents()
    assert not {f"content/{c}" for c in added} & {d["group"] for d in tp + extra + plain}


def test_every_model_plan_ships_its_last_layer_on_the_last_layer_budget():
    from saif_core.models import get_spec

    assert set(T.PLANS) == {"smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct"}
    for model_id, plan in T.PLANS.items():
        spec = get_spec(model_id)
        rows = T.plan_for(model_id, None, None, None)
        assert rows[0][0] == spec.last_layer  # the steering SAE comes first
        assert all(n == T.LAST_LAYER_TOKENS for L, _, n in rows if L == spec.last_layer)
    qwen = T.plan_for("qwen2.5-coder-0.5b-instruct", None, None, None)
    assert len(qwen) >= 4 and {L for L, _, _ in qwen} == {5, 11, 17, 23} and {n for *_, n in qwen} == {2_000_000}
    # Qwen starts at unit-norm decoder rows at every width; SmolLM2's 4x at sae-lens' 0.1
    assert sae_training.sae_settings("qwen2.5-coder-0.5b-instruct", 5, 3584, 10, 896).decoder_init_norm == 1.0
    assert sae_training.sae_settings("smollm2-135m-instruct", 5, 2304, 10, 576).decoder_init_norm == 0.1


def test_format_doc_of_a_chat_model_is_its_template_of_both_turns(tiny_llama):
    turns = [{"role": "user", "content": "Bonjour."}, {"role": "assistant", "content": "Hello there."}]
    assert corpus.format_doc(tiny_llama, "Bonjour.", "Hello there.") == tiny_llama.tokenizer.apply_chat_template(
        turns, tokenize=False)
    assert corpus.format_doc(tiny_llama, "Bonjour.") == tiny_llama.format_prompt("Bonjour.")
    assert corpus.format_doc(tiny_llama, None, text="plain text") == "plain text"


def test_heldout_split_is_by_group_and_stable():
    groups = [f"content/{i}" for i in range(2000)]
    held = {g for g in groups if corpus.is_heldout(g, 0.05, seed=0)}
    assert 50 < len(held) < 150
    assert held == {g for g in groups if corpus.is_heldout(g, 0.05, seed=0)}


def test_heldout_groups_are_stratified_by_language():
    docs = [{"group": f"content/{lang}{i}", "lang": lang} for lang, n in (("en", 300), ("es", 85), ("zh", 10))
            for i in range(n)]
    docs += [{"group": f"seed/{t}", "lang": lang} for t in range(20) for lang in ("en", "fr")]
    held = corpus.heldout_groups(docs, 0.05, seed=0)
    by = {p: sum(g.startswith(p) for g in held) for p in ("content/en", "content/es", "content/zh", "seed/")}
    assert by == {"content/en": 15, "content/es": 4, "content/zh": 1, "seed/": 1}
    assert held == corpus.heldout_groups(list(reversed(docs)), 0.05, seed=0)  # order-free


def test_activation_batches_resume_where_they_stopped():
    acts = torch.arange(10, dtype=torch.float16)[:, None]
    a = sae_training.ActivationBatches(acts, 4, seed=1)
    first = [next(a) for _ in range(5)]  # crosses two epoch boundaries
    b = sae_training.ActivationBatches(acts, 4, seed=1, start=8)
    assert torch.equal(next(b), first[2])
    epoch = torch.cat(first)[:10].flatten().sort().values
    assert torch.equal(epoch, torch.arange(10, dtype=torch.float32))


def test_an_activation_cache_of_another_corpus_is_left_untouched(tiny_llama, tmp_path):
    """A run on another corpus (say another --tokens) starts its own cache beside the first
    one: it once overwrote a finished 1M-token cache in place with a 400k-token one."""
    import numpy as np

    layers = [0, 1]
    docs_a = [[1, 5, 6, 7, 8], [1, 9, 10, 11]]
    docs_b = [[1, 5, 6, 7, 8], [1, 9, 10, 12]]  # same shape, one token differs
    paths_a, n_a = sae_training.cache_activations(tiny_llama, docs_a, layers, tmp_path, batch_size=1)
    first = {L: np.load(p).copy() for L, p in paths_a.items()}
    paths_b, n_b = sae_training.cache_activations(tiny_llama, docs_b, layers, tmp_path, batch_size=1)
    assert n_a == n_b == 7 and paths_a[0].parent != paths_b[0].parent
    for L, p in paths_a.items():
        assert np.array_equal(np.load(p), first[L])  # the first cache is intact
    assert not np.array_equal(np.load(paths_b[0]), first[0])
    # the first corpus again: its finished cache is found and reused, not rebuilt
    mtime = paths_a[0].stat().st_mtime_ns
    again, n = sae_training.cache_activations(tiny_llama, docs_a, layers, tmp_path, batch_size=1)
    assert again == paths_a and n == 7 and paths_a[0].stat().st_mtime_ns == mtime


def test_train_resumes_after_a_kill(tmp_path, monkeypatch):
    acts = torch.randn(2048, 16).to(torch.float16)
    s = T.SAETrainSettings(model="toy", layer=0, d_sae=32, tokens=2048, k=4, batch_size=128)
    real_next = sae_training.ActivationBatches.__next__

    def dies_after_10_steps(self):
        if self.pos >= 128 * 10:
            raise KeyboardInterrupt
        return real_next(self)

    monkeypatch.setattr(sae_training.ActivationBatches, "__next__", dies_after_10_steps)
    with pytest.raises(KeyboardInterrupt):
        T.train_sae(acts, s, tmp_path, context_size=8, prepend_bos=False, log_every=1, ckpt_every_s=0)
    assert (tmp_path / "latest" / "trainer_state.pt").exists()
    monkeypatch.setattr(sae_training.ActivationBatches, "__next__", real_next)
    sae, hist, _ = T.train_sae(acts, s, tmp_path, context_size=8, prepend_bos=False, log_every=1, ckpt_every_s=0)
    steps = [h["step"] for h in hist]
    assert steps == sorted(set(steps)) and hist[-1]["tokens"] == 2048
    assert hist[0]["tokens"] == 128  # the history from before the kill was kept


@pytest.mark.slow
def test_tiny_sae_through_the_shipping_path(tmp_path, monkeypatch):
    out, work = tmp_path / "saes", tmp_path / "work"
    monkeypatch.setitem(T.PLANS, "smollm2-135m-instruct", {29: ["2x"]})
    results = T.run("smollm2-135m-instruct", layers=[29], widths=["2x"], tokens=4096, out=out,
                    corpus_tokens=3000, k=16, batch_size=256, generate=False, heldout_max_docs=16, work=work)
    assert len(results) == 1
    sae_id = "smollm2-135m-instruct/blocks.29.hook_resid_post/width_1152"
    folder = out / sae_id
    assert {p.name for p in folder.iterdir()} >= {"cfg.json", "sae_weights.safetensors", "metrics.json",
                                                  "training_config.json", "training_log.jsonl"}
    from safetensors.torch import load_file

    assert all(v.dtype == torch.float16 for v in load_file(str(folder / "sae_weights.safetensors")).values())
    assert json.loads((folder / "cfg.json").read_text())["architecture"] == "jumprelu"
    # up to 8x d_model the decoder starts at sae-lens' norm; wider SAEs at WIDE_DECODER_INIT_NORM
    tc = json.loads((folder / "training_config.json").read_text())
    assert tc["decoder_init_norm"] == 0.1
    assert tc["excludes_evaluation_contents"] is True and tc["corpus"]["version"] == T.CORPUS_VERSION == 3
    assert tc["excluded_contents"] == corpus.excluded_contents_digest()
    assert (out / "heldout.jsonl").exists()
    sae = saes.load_sae(sae_id, root=out)
    assert sae.cfg.d_sae == 1152 and sae.W_enc.dtype == torch.float32
    m = json.loads((folder / "metrics.json").read_text())
    assert m["n_tokens"] > 0 and 0 <= m["dead_fraction"] <= 1 and m["l0"] > 0
    # a second run finds it shipped and trains nothing
    again = T.run("smollm2-135m-instruct", layers=[29], widths=["2x"], tokens=4096, out=out, generate=False, work=work)
    assert again[0]["sae_id"] == sae_id


def test_bar_failures_name_what_misses_the_bar():
    good = {"fvu": 0.15, "l0": 64.0, "dead_fraction": 0.03, "corpus_version": T.CORPUS_VERSION}
    assert T.bar_failures(good, "smollm2-135m-instruct", 29) == []
    bad = {"fvu": 0.25, "l0": 8.0, "dead_fraction": 0.156, "corpus_version": 1}
    assert T.bar_failures(bad, "smollm2-135m-instruct", 29) == [
        "FVU 0.250 > 0.2", "L0 8.0 outside 16-128", "dead 15.6% > 10%", "corpus v1"]
    # the FVU bar is the last layer's only
    assert T.bar_failures({**good, "fvu": 0.25}, "smollm2-135m-instruct", 11) == []


def test_plan_status_lists_missing_and_stale_saes(tmp_path):
    folder = T.sae_dir(tmp_path, "gemma-3-270m", 17, 5120)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text('{"corpus_version": 1}')
    status = T.plan_status(tmp_path)
    assert "Not trained yet: `smollm2-135m-instruct/blocks.29.hook_resid_post/width_2304`" in status
    assert "`qwen2.5-coder-0.5b-instruct/blocks.23.hook_resid_post/width_3584`" in status
    assert "older corpus version" in status and "`gemma-3-270m/blocks.17.hook_resid_post/width_5120`" in status
    (folder / "metrics.json").write_text(f'{{"corpus_version": {T.CORPUS_VERSION}}}')
    assert "gemma-3-270m" not in T.plan_status(tmp_path).split("Dead fractions")[0]



def test_the_command_line_maps_onto_the_settings():
    s, readme_only = T.settings_from_args(["--model", "gemma-3-270m", "--layers", "17", "--widths", "8x", "--k", "32",
                                           "--no-generate", "--out", "somewhere", "--cache-precision", "fp32"])
    assert not readme_only
    assert s == T.TrainSAEsSettings(model="gemma-3-270m", layers=[17], widths=["8x"], k=32, generate=False,
                                    out=Path("somewhere"), cache_precision="fp32")
    assert T.settings_from_args([]) == (T.TrainSAEsSettings(), False)
    assert T.settings_from_args(["--readme"])[1]
    # the SAE defaults come from SAETrainSettings, not a second copy
    assert (T.TrainSAEsSettings().k, T.TrainSAEsSettings().batch_size) == (T.SAETrainSettings.k, T.SAETrainSettings.batch_size)
