"""Fresh real outputs for the judge's second test part (dev items the first set never used).

    PYTHONPATH=. python scripts/agreement_outputs_fresh.py OUT.jsonl [RESULTS_ROOT]

SmolLM2 and Gemma 3: dev items 5-7 (the first set used items 1-4) in every condition, steered
at alpha 3. Qwen2.5-Coder (no SAE of its own yet): dev items 5-10, original and prompted.
Written WITHOUT any judge label, for people to label by reading.
"""
import json
import sys
import tempfile

from saif_core import data, steering
from saif_core import experiments as E
from saif_core.models import load_model

TASKS = ("translate_fr", "translate_zh", "translate_en", "summarize", "keyword:lantern")
root = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="agreement-")
out = []
for model_id in ("smollm2-135m-instruct", "gemma-3-270m"):
    for task in TASKS:
        cfg = E.RunConfig(model=model_id, task=task, eval_split="dev", n_eval=7, alpha=3.0, n_extract=64)
        cfg = cfg.replace(k=min(cfg.k, E.passing_latents(cfg, root)))
        E.run(cfg, root=root, progress=False)
        fresh = {it.id for it in data.split(task, "dev")[4:7]}
        for r in E.records(cfg, root):
            if r["content_id"] in fresh:
                out.append({"task": task, "source": r["source"], "response": r["output"], "keyword": r["keyword"],
                            "reference": r["reference"], "origin": f"{model_id}/{r['condition']}",
                            "content_id": r["content_id"]})
        print(model_id, task, len(out), flush=True)
model = load_model("qwen2.5-coder-0.5b-instruct")
for task in TASKS:
    items = data.split(task, "dev")[4:10]
    for condition in ("original", "prompted"):
        prompts = [data.eval_prompts(task, it)[condition] for it in items]
        outs = steering.generate(model, data.format_prompts(model, prompts), 128, 8)
        for it, o in zip(items, outs):
            keyword, reference = E.judged_against(task, it)
            out.append({"task": task, "source": it.text, "response": o, "keyword": keyword, "reference": reference,
                        "origin": f"qwen2.5-coder-0.5b-instruct/{condition}", "content_id": it.id})
    print("qwen", task, len(out), flush=True)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for rec in out:
        f.write(json.dumps(rec, ensure_ascii=False) + "\n")
