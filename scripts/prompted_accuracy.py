"""Prompted strict / loose accuracy of the embedded models on the evaluation split (issue #15's
table of models): content + the task's canonical instruction, greedy, 128 new tokens, judged by
the meaning-aware judge. Needs no SAE. Resumable: records are appended per batch to
``OUT_DIR/<model>/<task>.jsonl`` and items already there are skipped.

    PYTHONPATH=. python scripts/prompted_accuracy.py OUT_DIR [MODEL ...]
    PYTHONPATH=. python scripts/prompted_accuracy.py --rejudge [record/prompted]
    PYTHONPATH=. python scripts/prompted_accuracy.py --share [record/prompted]

Prints SA / LA with 95% Wilson intervals per model and task when every item is done. With
``--rejudge`` no model is loaded: the shipped outputs (``record/prompted/<model>/<task>/
records.jsonl.gz``) are judged again by the current judge, stored again, and the README's table
of models is printed. With ``--share``, the shipped outputs join the results store's unsteered
outputs (``saif_core.unsteered``: the same prompts and settings as a run's prompted condition),
so the notebooks' runs reuse them instead of generating them again.
"""
import gzip
import json
import sys
from pathlib import Path

from saif_core import data, steering
from saif_core.evaluate import JUDGE_VERSION, judge, wilson_interval
from saif_core.experiments import judged_against
from saif_core.models import load_model

TASKS = ("translate_fr", "translate_zh", "translate_en", "summarize", "keyword:lantern")
MAX_NEW_TOKENS, BATCH = 128, 16


def rejudge(root: Path) -> None:
    rows = []
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        cells = []
        for task in TASKS:
            path = model_dir / task.replace(":", "_") / "records.jsonl.gz"
            recs = [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line]
            for r in recs:
                v = judge(task, r["source"], r["output"], r["keyword"], r["reference"])
                r.update(label=v.label, reason=v.reason, judge_version=JUDGE_VERSION)
            blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs).encode()
            path.write_bytes(gzip.compress(blob, compresslevel=9, mtime=0))
            sa, la = (sum(r["label"] in labels for r in recs) for labels in (("strict",), ("strict", "loose")))
            cells.append(f"{sa / len(recs):.2f} / {la / len(recs):.2f} (n={len(recs)})")
        rows.append(f"| {model_dir.name} | " + " | ".join(cells) + " |")
    print("| model | " + " | ".join(TASKS) + " |\n|---|" + "---|" * len(TASKS) + "\n" + "\n".join(rows))


def share(root: Path) -> None:
    from saif_core import paths, unsteered

    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for task in TASKS:
            path = model_dir / task.replace(":", "_") / "records.jsonl.gz"
            recs = [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line]
            items = {it.id: it for it in data.split(task, "evaluation")}
            pairs = [(data.eval_prompts(task, items[r["content_id"]])["prompted"], r["output"]) for r in recs]
            n = unsteered.add(model_dir.name, pairs, MAX_NEW_TOKENS, 1.0, paths.results_root())
            print(f"{model_dir.name} {task}: {n} of {len(recs)} outputs added to the unsteered store")


if sys.argv[1] == "--share":
    share(Path(sys.argv[2] if len(sys.argv) > 2 else "record/prompted"))
    sys.exit(0)
if sys.argv[1] == "--rejudge":
    rejudge(Path(sys.argv[2] if len(sys.argv) > 2 else "record/prompted"))
    sys.exit(0)
out_dir = Path(sys.argv[1])
models = sys.argv[2:] or ["qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct", "gemma-3-270m"]
for model_id in models:
    model = load_model(model_id)
    for task in TASKS:
        path = out_dir / model_id / f"{task.replace(':', '_')}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        done = {json.loads(line)["content_id"] for line in path.read_text().splitlines()} if path.exists() else set()
        items = [it for it in data.split(task, "evaluation") if it.id not in done]
        for b in range(0, len(items), BATCH):
            batch = items[b : b + BATCH]
            prompts = [data.eval_prompts(task, it)["prompted"] for it in batch]
            outs = steering.generate(model, data.format_prompts(model, prompts), MAX_NEW_TOKENS, BATCH)
            lines = []
            for it, out in zip(batch, outs):
                keyword, reference = judged_against(task, it)
                v = judge(task, it.text, out, keyword, reference)
                lines.append(json.dumps({"model": model_id, "task": task, "content_id": it.id, "source": it.text,
                                         "output": out, "keyword": keyword, "reference": reference, "label": v.label,
                                         "reason": v.reason, "judge_version": JUDGE_VERSION}, ensure_ascii=False))
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            print(model_id, task, len(done) + b + len(batch), flush=True)
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        n = len(recs)
        sa, la = (sum(r["label"] in labels for r in recs) for labels in (("strict",), ("strict", "loose")))
        print(f"RESULT {model_id} {task} n={n} SA={sa / n:.2f} {wilson_interval(sa, n)} "
              f"LA={la / n:.2f} {wilson_interval(la, n)}", flush=True)
