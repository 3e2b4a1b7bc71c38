"""Real outputs of the embedded models for the judge's agreement set (dev items only).

    PYTHONPATH=. python scripts/agreement_outputs.py OUT.jsonl [RESULTS_ROOT]

For each model, task and condition (original, prompted, steered at a fixed alpha), the first
items of the dev split are generated at the study's 128 new tokens; the records are written
WITHOUT the judge's label or reason, for people to label by reading.
"""
import json
import sys
import tempfile

from saif_core import experiments as E

MODELS = ("smollm2-135m-instruct", "gemma-3-270m")
TASKS = ("translate_fr", "translate_zh", "translate_en", "summarize", "keyword:lantern")
N_ITEMS, ALPHA = 4, 3.0

out = []
root = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="agreement-")
for model in MODELS:
    for task in TASKS:
        cfg = E.RunConfig(model=model, task=task, eval_split="dev", n_eval=N_ITEMS, alpha=ALPHA, n_extract=64)
        cfg = cfg.replace(k=min(cfg.k, E.passing_latents(cfg, root)))  # fewer latents may pass
        E.run(cfg, root=root, progress=False)
        for r in E.records(cfg, root):
            out.append({"task": task, "source": r["source"], "response": r["output"], "keyword": r["keyword"],
                        "reference": r["reference"], "origin": f"{model}/{r['condition']}", "content_id": r["content_id"]})
        print(model, task, len(out), flush=True)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for rec in out:
        f.write(json.dumps(rec, ensure_ascii=False) + "\n")
