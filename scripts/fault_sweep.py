"""Every bad input of ``tests/test_faults.py``, run as a real ``saif`` process: the counts of
issue #18 (bad inputs tried, clear errors, tracebacks, unclear messages, accepted silently),
and two identical runs at once (records lost, records duplicated).

    PYTHONPATH=. .venv/bin/python scripts/fault_sweep.py [--json OUT.json]

A clear error: exit code 2, no traceback, and the error is one line that names the fix
(argparse's usage line plus its one error line counts as clear). Each process starts cold
(about 4 s of imports here), so the sweep takes several minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

import test_faults as F  # noqa: E402  (the catalogues of bad inputs)
from sae_factory import make_sae  # noqa: E402


def classify(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and "Warning" not in line
             and not line.startswith("  ")]
    if "Traceback" in err:
        return "traceback"
    if code == 0:
        return "accepted"
    if code != 2 or not lines:
        return "unclear"
    if lines[0].startswith("usage: saif"):
        return "clear" if ": error: " in lines[-1] else "unclear"
    return "clear" if len(lines) == 1 and ": error: " in lines[0] and "Fix" in lines[0] else "unclear"


def cases(files: Path, saes: Path) -> list[tuple[str, list[str], dict]]:
    """(name, argv, extra environment) of every bad input."""
    def write(name, content):
        return F.input_file(files, name, content)

    out = [(f"parser: {' '.join(a) or '(none)'}", a, {}) for a, _ in F.PARSER_CASES]
    out += [(f"steer: {' '.join(a)}", ["steer", *a], {}) for a, _ in F.STEER_CASES]
    for name, (content, _) in F.CONTENTS_CASES.items():
        path = F.input_file(files, f"contents-{name}", content, ".jsonl")
        out.append((f"steer --contents {name}", ["steer", "--task", "translate_fr", "--contents", path], {}))
    for name, (content, _) in F.SAE_EVAL_CASES.items():
        path = F.input_file(files, f"text-{name}", content, ".jsonl" if name.startswith("jsonl") else ".txt")
        out.append((f"sae-eval --text-file {name}", ["sae-eval", "--text-file", path], {}))
    for name, (content, _) in F.JUDGE_CASES.items():
        path = F.input_file(files, f"judge-{name}", content, ".jsonl")
        out.append((f"judge {name}", ["judge", path] + (["--agreement"] if "agreement" in name else []), {}))
    ok = write("judge-ok.jsonl", F.GOOD_JUDGE_LINE)
    out.append(("judge --llm without a server", ["judge", ok, "--llm", "m", "--base-url", "http://127.0.0.1:9/v1"],
                {"OPENAI_API_KEY": "x"}))
    text = write("text-ok.txt", "Some text to evaluate on.\n")
    out += [("sae-eval --sae unknown", ["sae-eval", "--text-file", text, "--sae", "x/y/z"], {}),
            ("sae-eval --model unknown", ["sae-eval", "--text-file", text, "--model", "gpt-17"], {}),
            ("bench --model unknown", ["bench", "--model", "gpt-17"], {}),
            ("doctor --model unknown", ["doctor", "--model", "gpt-17"], {})]
    for how in F.SAE_DAMAGE:  # each damage in its own SAE root
        root = saes.parent / f"saes-{how}"
        shutil.copytree(saes, root)
        F._damage(root / F.SMOL / "blocks.29.hook_resid_post" / "width_1152", how)
        broken = f"{F.SMOL}/blocks.29.hook_resid_post/width_1152"
        out += [(f"steer, SAE {how}", ["steer", "--task", "translate_fr", "--layer", "29"], {"SAIF_SAES": str(root)}),
                (f"sae-eval, SAE {how}", ["sae-eval", "--text-file", text, "--sae", broken], {"SAIF_SAES": str(root)})]
    blocker = files / "a-file"
    blocker.write_text("x")
    out += [("SAIF_RESULTS is a file", ["steer", "--task", "translate_fr", "--alpha", "2"],
             {"SAIF_RESULTS": str(blocker)}),
            ("SAIF_SAES missing", ["steer", "--task", "translate_fr"], {"SAIF_SAES": str(files / "none")})]
    out += [(f"figures {' '.join(o)}", ["figures", *o], {}) for o in (["99"], ["abc"], ["02", "77"])]
    record = files / "record" / "translate_fr-abc"
    record.mkdir(parents=True)
    (record / "records.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    out.append(("record restore, damaged gz", ["record", "restore"], {"SAIF_RECORD": str(files / "record")}))
    return out


def concurrent_runs(work: Path) -> dict:
    """Two identical ``saif steer`` runs at once on the tiny random model: records per (condition, item)."""
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_model import build_tiny_llama

    ckpt = build_tiny_llama(work / "tiny" / "model", n_layers=3, d_model=64)
    saes = work / "tiny-saes"
    make_sae(saes, model="tiny-llama", layer=1, d_in=64, kind="identity")
    driver = work / "driver.py"
    driver.write_text(F.DRIVER.format(tests=str(REPO / "tests"), ckpt=str(ckpt)))
    env = {**os.environ, "SAIF_SAES": str(saes), "SAIF_RESULTS": str(work / "tiny-results"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(driver), "steer", "--task", "translate_fr", "--model", "tiny-llama", "--alpha", "2",
            "--k", "2", "--n", "20", "--max-new-tokens", "8", "--json"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    (folder,) = [p for p in (work / "tiny-results").iterdir() if p.name.startswith("translate_fr-")]
    keys = [(json.loads(x)["condition"], json.loads(x)["content_id"])
            for x in (folder / "records.jsonl").read_text().splitlines()]
    expected = {(c, it) for c in ("original", "prompted", "steered") for it in {k[1] for k in keys}}
    return {"exit_codes": [p.returncode for p in procs], "lines": len(keys), "unique": len(set(keys)),
            "expected": 3 * 20, "lost": 3 * 20 - len(set(keys) & expected), "duplicated": len(keys) - len(set(keys)),
            "summaries_equal": outs[0][0] == outs[1][0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="saif-faults-") as tmp:
        work = Path(tmp)
        files, saes = work / "inputs", work / "saes"
        files.mkdir()
        make_sae(saes, layer=29)
        make_sae(saes, layer=23)
        base = {**os.environ, "HF_HUB_OFFLINE": "1", "SAIF_SAES": str(saes), "SAIF_RESULTS": str(work / "results"),
                "SAIF_FIGURES": str(work / "figures"), "PYTHONPATH": str(REPO)}
        rows = []
        for name, argv, extra in cases(files, saes):
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "saif_core.cli", *argv], env={**base, **extra},
                                  capture_output=True, text=True, timeout=600)
            rows.append({"case": name, "code": done.returncode, "seconds": round(time.perf_counter() - t0, 1),
                         "outcome": classify(done.returncode, done.stderr), "stderr": done.stderr.strip()[-600:]})
            print(f"{rows[-1]['outcome']:>9}  {rows[-1]['seconds']:5.1f} s  {name}", flush=True)
        runs = concurrent_runs(work)
        wrote_store = (work / "results").exists() and any((work / "results").iterdir())
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("clear", "traceback", "unclear", "accepted")}
    report = {"bad_inputs": len(rows), **counts, "max_seconds": max(r["seconds"] for r in rows),
              "bad_input_wrote_to_store": wrote_store, "concurrent_identical_runs": runs, "cases": rows}
    print(json.dumps({k: v for k, v in report.items() if k != "cases"}, indent=1))
    for r in rows:
        if r["outcome"] != "clear":
            print(f"\n[{r['outcome']}] {r['case']} (exit {r['code']}):\n{r['stderr']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
