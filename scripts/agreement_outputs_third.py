"""Real outputs for the judge's third test part, on items neither earlier set used.

    PYTHONPATH=. python scripts/agreement_outputs_third.py OUT.jsonl

Qwen2.5-Coder prompted (translation: dev items 11-20; summarize and keyword: extraction items
1-8) and original (2 items a task); SmolLM2 prompted on 3 items a task. No judge labels.
"""
import json
import sys

from saif_core import data, steering
from saif_core import experiments as E
from saif_core.models import load_model

TASKS = ("translate_fr", "translate_zh", "translate_en", "summarize", "keyword:lantern")


def items(task):
    return data.split(task, "dev")[10:20] if task.startswith("translate") else data.split(task, "extraction")[:8]


out = []
for model_id, plan in (("qwen2.5-coder-0.5b-instruct", {"prompted": slice(0, 10), "original": slice(0, 2)}),
                       ("smollm2-135m-instruct", {"prompted": slice(0, 3)})):
    model = load_model(model_id)
    for task in TASKS:
        for condition, which in plan.items():
            chosen = items(task)[which]
            prompts = [data.eval_prompts(task, it)[condition] for it in chosen]
            for it, o in zip(chosen, steering.generate(model, data.format_prompts(model, prompts), 128, 10)):
                keyword, reference = E.judged_against(task, it)
                out.append({"task": task, "source": it.text, "response": o, "keyword": keyword, "reference": reference,
                            "origin": f"{model_id}/{condition}", "content_id": it.id})
        print(model_id, task, len(out), flush=True)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for rec in out:
        f.write(json.dumps(rec, ensure_ascii=False) + "\n")
