"""Fault injection (issue #18): bad arguments, bad files, damaged caches and shipped SAEs,
concurrent runs. Every case is a bad input a user can give; each must end in one line on
stderr that names the problem and the fix, exit code 2, before any model loads, and must
neither lose nor duplicate stored results.

``run_cli`` calls ``saif``'s ``main`` in this process: an exception escaping it is what a
user would see as a traceback, and the test fails with it. The concurrency cases start
real processes. The counts the issue asks for are the number of cases collected here
(``pytest tests/test_faults.py -q`` prints them).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from sae_factory import make_sae

from saif_core import cli, experiments, models

SMOL = "smollm2-135m-instruct"
STEER_SAE = f"{SMOL}/blocks.23.hook_resid_post/width_1152"


def run_cli(argv: list[str], capsys) -> SimpleNamespace:
    """``saif argv`` in this process: exit code, stdout, stderr."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    out = capsys.readouterr()
    return SimpleNamespace(code=code, out=out.out, err=out.err)


def assert_clear_error(done, *words: str) -> None:
    """Exit 2, and stderr's last line is the error: argparse's ``error: argument --flag: ...``
    after its usage line, or ``saif <command>: error: <problem>. Fix: <what to do>`` alone;
    ``words`` must appear in it."""
    assert done.code == 2, (done.code, done.err)
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert lines and "Traceback" not in done.err, done.err
    line = lines[-1]
    if lines[0].startswith("usage: saif"):  # argparse: the usage, then one error line
        assert line.startswith("saif") and ": error: " in line, done.err
    else:
        assert len(lines) == 1, f"more than one line:\n{done.err}"
        assert line.startswith("saif ") and ": error: " in line, line
        assert "Fix" in line or "fix" in line, f"no fix named: {line}"
    for word in words:
        assert word in line, (word, line)


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if anything loads a model: bad input must be refused before."""
    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the bad input was refused")

    for module in (cli, experiments, models):
        monkeypatch.setattr(module, "load_model", refuse)


@pytest.fixture
def world(tmp_path, monkeypatch):
    """Scratch results, figures and SAE roots; the SAE root holds identity SAEs of SmolLM2
    at layers 23 (its steering layer) and 29."""
    root = tmp_path / "saes"
    make_sae(root, layer=29)
    make_sae(root, layer=23)
    monkeypatch.setenv("SAIF_SAES", str(root))
    monkeypatch.setenv("SAIF_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SAIF_FIGURES", str(tmp_path / "figures"))
    files = tmp_path / "inputs"
    files.mkdir()
    return SimpleNamespace(tmp=tmp_path, saes=root, results=tmp_path / "results", files=files)


def write(world, name: str, content) -> str:
    return input_file(world.files, name, content)


def input_file(folder: Path, name: str, content, suffix: str = "") -> str:
    """A case's input: ``content`` None names a file that does not exist, ``"<dir>"`` a folder;
    else a file ``name + suffix`` holding it (bytes or text)."""
    if content is None:
        return str(folder / f"nothing{suffix}")
    if content == "<dir>":
        return str(folder)
    path = folder / f"{name}{suffix}"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    return str(path)


BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfd garbage \x80\x81"
SURROGATE_LINE = '{"task": "translate_fr", "source": "Bonjour \\ud800 tout le monde", "response": "Hello"}\n'
GOOD_JUDGE_LINE = '{"task": "translate_en", "source": "Le chat dort.", "response": "The cat sleeps."}\n'


# ---------------------------------------------------------------- 7. bad numbers and words, at the parser

PARSER_CASES = [
    (["steer", "--task", "translate_fr", "--n", "0"], "--n"),
    (["steer", "--task", "translate_fr", "--n", "-3"], "--n"),
    (["steer", "--task", "translate_fr", "--n", "ten"], "--n"),
    (["steer", "--task", "translate_fr", "--n", "2.5"], "--n"),
    (["steer", "--task", "translate_fr", "--k", "0"], "--k"),
    (["steer", "--task", "translate_fr", "--k", "two"], "--k"),
    (["steer", "--task", "translate_fr", "--alpha", "lots"], "--alpha"),
    (["steer", "--task", "translate_fr", "--alpha", "1e300"], "--alpha"),
    (["steer", "--task", "translate_fr", "--alpha", "-1e300"], "--alpha"),
    (["steer", "--task", "translate_fr", "--alpha", "nan"], "--alpha"),
    (["steer", "--task", "translate_fr", "--alpha", "inf"], "--alpha"),
    (["steer", "--task", "translate_fr", "--alpha", ""], "--alpha"),
    (["steer", "--task", "translate_fr", "--layer", "abc"], "--layer"),
    (["steer", "--task", "translate_fr", "--placement", "middle"], "--placement"),
    (["steer", "--task", "translate_fr", "--vector", "random"], "--vector"),
    (["steer", "--task", "translate_fr", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["steer", "--task", "translate_fr", "--seed", "x"], "--seed"),
    (["steer", "--task", "translate_fr", "--repetition-penalty", "much"], "--repetition-penalty"),
    (["steer", "--task", "translate_fr", "--repetition-penalty", "nan"], "--repetition-penalty"),
    (["steer", "--task", "translate_fr", "--repetition-penalty", "0"], "--repetition-penalty"),
    (["steer", "--task", "translate_fr", "--repetition-penalty", "-1"], "--repetition-penalty"),
    (["steer"], "--task"),
    (["steer", "--task", "translate_fr", "--bogus"], "--bogus"),
    (["bench", "--batch-size", "-1"], "--batch-size"),
    (["bench", "--batch-size", "0"], "--batch-size"),
    (["bench", "--repeats", "0"], "--repeats"),
    (["bench", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["bench", "--max-new-tokens", "-5"], "--max-new-tokens"),
    (["sae-eval", "--text-file", "x.txt", "--max-docs", "-1"], "--max-docs"),
    (["sae-eval", "--text-file", "x.txt", "--max-docs", "0"], "--max-docs"),
    (["sae-eval", "--text-file", "x.txt", "--max-len", "1"], "--max-len"),
    (["steer", "--task", "translate_fr", "--repetition-penalty", "1e9"], "--repetition-penalty"),
    (["sae-eval"], "--text-file"),
    (["record", "load"], "action"),
    (["record"], "action"),
    (["nonsense"], "command"),
    ([], "command"),
]


@pytest.mark.parametrize("argv, flag", PARSER_CASES, ids=[" ".join(a) or "no-args" for a, _ in PARSER_CASES])
def test_bad_arguments_fail_at_the_parser(argv, flag, capsys, no_model):
    assert_clear_error(run_cli(argv, capsys), flag)


# ---------------------------------------------------------------- 6. checked before a model loads

STEER_CASES = [  # (argv after `steer`, words the error must contain)
    (["--task", "translate_de"], ["translate_de", "Fix"]),
    (["--task", "keyword:"], ["keyword", "Fix"]),
    (["--task", "keyword:two words"], ["keyword", "Fix"]),
    (["--task", "translate_fr", "--model", "gpt-17"], ["gpt-17", "Fix"]),
    (["--task", "translate_fr", "--sae", "nowhere/blocks.1.hook_resid_post/width_8"], ["nowhere", "Fix"]),
    (["--task", "translate_fr", "--layer", "99"], ["--layer", "Fix"]),
    (["--task", "translate_fr", "--layer", "3"], ["layer 3", "Fix"]),
    (["--task", "translate_fr", "--k", "100000"], ["--k", "Fix"]),
    (["--task", "translate_fr", "--n", "100000"], ["--n", "Fix"]),
    (["--task", "translate_fr", "--sae", STEER_SAE, "--layer", "29"], ["--layer", "Fix"]),
]


@pytest.mark.parametrize("argv, words", STEER_CASES, ids=[" ".join(a) for a, _ in STEER_CASES])
def test_bad_steer_inputs_fail_before_a_model_loads(argv, words, world, capsys, no_model):
    assert_clear_error(run_cli(["steer", *argv], capsys), *words)
    assert not world.results.exists() or not any(world.results.iterdir()), "a bad input wrote to the store"


CONTENTS_CASES = {  # name -> (file content, words)
    "missing": (None, ["does not exist", "--contents"]),
    "empty": ("", ["no evaluation items", "--contents"]),
    "blank-lines": ("\n\n  \n", ["no evaluation items", "--contents"]),
    "binary": (BINARY, ["UTF-8", "line 1"]),
    "bad-json": ('{"id": "a", "text": "Hola."}\n{"id": "b", "text": \n', ["line 2", "JSON"]),
    "not-object": ('["a", "b"]\n', ["line 1"]),
    "no-text": ('{"id": "a"}\n', ["line 1", "text"]),
    "text-not-string": ('{"id": "a", "text": 5}\n', ["line 1", "text"]),
    "empty-text": ('{"id": "a", "text": "  "}\n', ["line 1", "text"]),
    "duplicate-ids": ('{"id": "a", "text": "Hola."}\n{"id": "a", "text": "Adiós."}\n', ["a"]),
    "bad-id": ('{"id": 5, "text": "Hola."}\n', ["line 1", "id"]),
    "surrogate": ('{"id": "a", "text": "Hola \\ud800."}\n', ["line 1"]),
    "directory": ("<dir>", ["--contents"]),
}


@pytest.mark.parametrize("name", list(CONTENTS_CASES))
def test_bad_contents_files_fail_before_a_model_loads(name, world, capsys, no_model):
    content, words = CONTENTS_CASES[name]
    path = input_file(world.files, name, content, ".jsonl")
    done = run_cli(["steer", "--task", "translate_fr", "--contents", path], capsys)
    assert_clear_error(done, *words)


SAE_EVAL_CASES = {
    "missing": (None, ["does not exist", "--text-file"]),
    "empty": ("", ["--text-file"]),
    "blank-lines": ("\n \n", ["--text-file"]),
    "binary": (BINARY, ["UTF-8", "line"]),
    "jsonl-without-text": ('{"body": "x"}\n', ["line 1", "text"]),
    "jsonl-bad-json": ('{"text": "fine"}\n{"text": \n', ["line 2"]),
    "directory": ("<dir>", ["--text-file"]),
}


@pytest.mark.parametrize("name", list(SAE_EVAL_CASES))
def test_bad_text_files_fail_before_a_model_loads(name, world, capsys, no_model):
    content, words = SAE_EVAL_CASES[name]
    path = input_file(world.files, name, content, ".jsonl" if name.startswith("jsonl") else ".txt")
    assert_clear_error(run_cli(["sae-eval", "--text-file", path], capsys), *words)


def test_sae_eval_with_an_unknown_sae_or_model_fails_before_a_model_loads(world, capsys, no_model):
    path = write(world, "t.txt", "Some text to evaluate on.\n")
    assert_clear_error(run_cli(["sae-eval", "--text-file", path, "--sae", "x/y/z"], capsys), "x/y/z")
    assert_clear_error(run_cli(["sae-eval", "--text-file", path, "--model", "gpt-17"], capsys), "gpt-17")


@pytest.mark.parametrize("argv", [["bench", "--model", "gpt-17"], ["doctor", "--model", "gpt-17"]])
def test_unknown_models_are_named(argv, capsys, no_model):
    assert_clear_error(run_cli(argv, capsys), "gpt-17")


# ---------------------------------------------------------------- 8. messages: judge inputs

JUDGE_CASES = {
    "missing": (None, ["does not exist", "Fix"]),
    "directory": ("<dir>", ["Fix"]),
    "binary": (BINARY, ["UTF-8", "line 1"]),
    "surrogate": (SURROGATE_LINE, ["line 1"]),
    "bad-json-line-3": (GOOD_JUDGE_LINE * 2 + '{"task": \n', ["line 3", "JSON"]),
    "not-object": ("[1, 2]\n", ["line 1", "JSON object"]),
    "no-response": ('{"task": "translate_fr", "source": "x"}\n', ["line 1", "response"]),
    "response-not-string": ('{"task": "translate_fr", "source": "x", "response": 3}\n', ["line 1", "response"]),
    "unknown-task": ('{"task": "translate_de", "source": "x", "response": "y"}\n', ["line 1", "translate_de"]),
    "keyword-without-word": ('{"task": "keyword", "source": "x", "response": "y"}\n', ["line 1", "keyword"]),
    "reference-not-string": ('{"task": "translate_fr", "source": "x", "response": "y", "reference": 1}\n',
                             ["line 1", "reference"]),
    "agreement-without-labels": (GOOD_JUDGE_LINE, ["label"]),
}


@pytest.mark.parametrize("name", list(JUDGE_CASES))
def test_bad_judge_inputs_name_file_and_line(name, world, capsys):
    content, words = JUDGE_CASES[name]
    path = input_file(world.files, name, content, ".jsonl")
    argv = ["judge", path] + (["--agreement"] if name == "agreement-without-labels" else [])
    done = run_cli(argv, capsys)
    assert_clear_error(done, *words)
    assert done.out == "", "nothing is judged when one line is bad"


def test_judge_llm_without_a_server_is_one_line(world, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    path = write(world, "ok.jsonl", GOOD_JUDGE_LINE)
    done = run_cli(["judge", path, "--llm", "some-model", "--base-url", "http://127.0.0.1:9/v1"], capsys)
    assert_clear_error(done, "127.0.0.1:9")


# ---------------------------------------------------------------- 5. the judge's floor

@pytest.mark.parametrize("task, source, response", [
    ("translate_en", "Le chat dort sur le canapé depuis ce matin.", "x"),
    ("translate_en", "Le chat dort sur le canapé depuis ce matin.", "ok"),
    ("translate_en", "Le chat dort sur le canapé depuis ce matin.", "\x1b[31mThe\x1b[0m"),
    ("translate_en", "Le chat dort sur le canapé depuis ce matin.", "\x1b[2J\x1b[H"),
    ("translate_fr", "The cat has been sleeping on the sofa since this morning, quietly.", "chat"),
    ("translate_zh", "The cat has been sleeping on the sofa since this morning, quietly.", "猫"),
    ("summarize", "The cat has been sleeping on the sofa since this morning. " * 4, "Cat."),
])
def test_a_response_far_shorter_than_its_source_is_never_strict(task, source, response):
    from saif_core.evaluate import judge

    reference = {"translate_en": "The cat has been sleeping on the sofa since this morning.",
                 "translate_fr": "Le chat dort sur le canapé depuis ce matin, tranquillement.",
                 "translate_zh": "猫从今天早上起就一直安静地睡在沙发上。",
                 "summarize": "The cat has slept on the sofa all morning."}[task]
    verdict = judge(task, source, response, reference=reference)
    assert verdict.label != "strict", verdict


# ---------------------------------------------------------------- 4. one bad shipped SAE

def _damage(folder: Path, how: str) -> None:
    cfg_path, weights = folder / "cfg.json", folder / "sae_weights.safetensors"
    if how == "invalid-cfg":
        cfg_path.write_text("{not json")
    elif how == "empty-cfg":
        cfg_path.write_text("")
    elif how in ("no-d_sae", "wrong-architecture", "wrong-d_in", "d_sae-not-int"):
        cfg = json.loads(cfg_path.read_text())
        if how == "no-d_sae":
            del cfg["d_sae"]
        elif how == "wrong-architecture":
            cfg["architecture"] = "mystery"
        elif how == "wrong-d_in":
            cfg["d_in"] = 100
        else:
            cfg["d_sae"] = "wide"
        cfg_path.write_text(json.dumps(cfg))
    elif how == "truncated-weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif how == "empty-weights":
        weights.write_bytes(b"")
    elif how == "missing-weights":
        weights.unlink()
    else:
        raise ValueError(how)


SAE_DAMAGE = ["invalid-cfg", "empty-cfg", "no-d_sae", "wrong-architecture", "wrong-d_in", "d_sae-not-int",
              "truncated-weights", "empty-weights", "missing-weights"]


@pytest.mark.parametrize("how", SAE_DAMAGE)
def test_a_broken_sae_is_named_and_the_others_still_work(how, world, capsys, no_model):
    _damage(world.saes / SMOL / "blocks.29.hook_resid_post" / "width_1152", how)
    broken = f"{SMOL}/blocks.29.hook_resid_post/width_1152"
    # the healthy SAE is still found; the broken one is refused with its path and a fix
    assert experiments.validate(experiments.RunConfig()).sae == STEER_SAE
    done = run_cli(["steer", "--task", "translate_fr", "--layer", "29"], capsys)
    assert_clear_error(done, "blocks.29")
    text = write(world, "t.txt", "Some text to evaluate on.\n")
    assert_clear_error(run_cli(["sae-eval", "--text-file", text, "--sae", broken], capsys), "blocks.29")


@pytest.mark.parametrize("how", SAE_DAMAGE)
def test_doctor_reports_a_broken_sae_as_a_fail_line(how, world, capsys, monkeypatch):
    from saif_core import doctor

    _damage(world.saes / SMOL / "blocks.29.hook_resid_post" / "width_1152", how)
    checks = doctor._sae_checks(None)  # no model: the SAE checks alone, as doctor runs them
    fails = [c for c in checks if not c.ok]
    assert fails and all("blocks.29" in (c.name + c.detail) for c in fails), fails
    assert any(c.ok and "blocks.23" in (c.name + c.detail) for c in checks), checks
    doctor.print_report(checks)
    out = capsys.readouterr().out
    assert "FAIL" in out and "blocks.29" in out and "Traceback" not in out


# ---------------------------------------------------------------- 3. caches that heal

def test_a_corrupt_records_line_is_dropped_naming_file_and_line(tmp_path):
    store = tmp_path / "records.jsonl"
    lines = [json.dumps({"condition": "original", "content_id": c}) for c in "abcd"]
    lines[1] = lines[1][:20]  # a damaged line in the middle
    store.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"records.jsonl: dropped 1 damaged line\(s\) \(line 2"):
        kept = experiments.read_records(store)
    assert [r["content_id"] for r in kept] == ["a", "c", "d"]
    assert [json.loads(x)["content_id"] for x in store.read_text().splitlines()] == ["a", "c", "d"]


def test_doubled_records_count_once(tmp_path):
    from saif_core import store as store_mod

    path = tmp_path / "records.jsonl"
    recs = [{"condition": c, "content_id": i, "label": "fail"} for c in ("original", "steered") for i in "ab"]
    store_mod.append_records(path, recs)
    store_mod.append_records(path, recs)  # what two unlocked processes used to leave
    assert len(store_mod.read_records(path)) == 4


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_damaged_cached_pairs_are_rebuilt(damage, tmp_path):
    import torch

    from saif_core import store as store_mod

    path = tmp_path / "vectors" / "translate_fr-pairs-abc.safetensors"
    path.parent.mkdir(parents=True)
    store_mod.save_pairs(path, torch.ones(3, 4), torch.zeros(3, 4))
    blob = path.read_bytes()
    path.write_bytes({"truncate": blob[: len(blob) // 2], "empty": b"", "garbage": BINARY}[damage])
    assert store_mod.load_pairs(path) is None and not path.exists()


@pytest.mark.parametrize("file, damage", [("vector.json", "truncate"), ("vector.json", "empty"),
                                          ("vector.safetensors", "truncate"), ("vector.safetensors", "garbage"),
                                          ("latents.json", "truncate")])
def test_damaged_cached_vectors_are_rebuilt(file, damage, tmp_path):
    import torch

    from saif_core import store as store_mod
    from saif_core.steering import SteeringVector

    folder = tmp_path / "vec"
    folder.mkdir()
    SteeringVector(vector=torch.ones(8), model="tiny", layer=1, kind="saif", latents=[1, 2],
                   weights=[0.5, 0.5]).save(folder / "vector")
    (folder / "latents.json").write_text(json.dumps([{"latent": 1}, {"latent": 2}]))
    assert store_mod.load_vector(folder) is not None
    target = folder / file
    blob = target.read_bytes()
    target.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else (b"" if damage == "empty" else BINARY))
    assert store_mod.load_vector(folder) is None


def test_a_damaged_dequantized_model_cache_is_rebuilt(monkeypatch, tmp_path):
    """A truncated ``model.safetensors`` under ``$SAIF_CACHE`` is discarded and rebuilt once."""
    from saif_core import assets

    spec = models.get_spec(SMOL)
    monkeypatch.setenv("SAIF_CACHE", str(tmp_path / "cache"))
    built, loads = [], []

    def fake_ensure(s):
        folder = assets.cache_dir(s)
        if not folder.exists():  # what dequantize_to_cache does on a missing or discarded cache
            folder.mkdir(parents=True)
            (folder / "model.safetensors").write_bytes(b"rebuilt" if built else b"trunc")
            built.append(folder)
        return folder

    def fake_from_pretrained(s, where, device, local_files_only):
        loads.append(Path(where, "model.safetensors").read_bytes())
        if loads[-1] == b"trunc":
            raise OSError(f"Unable to load weights from {where}/model.safetensors (truncated)")
        return "model"

    monkeypatch.setattr(assets, "ensure_cached", fake_ensure)
    monkeypatch.setattr(models, "_from_pretrained", fake_from_pretrained)
    assert models._load(spec, "cpu") == "model"
    assert loads == [b"trunc", b"rebuilt"] and len(built) == 2


# ---------------------------------------------------------------- 1, 2. concurrency, with real processes

DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from saif_core import cli, models
    models.register_model(models.ModelSpec(
        id="tiny-llama", source="local", tl_name=None, hf_name={ckpt!r}, n_layers=3, d_model=64, chat=True,
        steering_layer=1, notes="tests: tiny random Llama"))
    sys.exit(cli.main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_two_identical_steer_runs_at_once_leave_one_record_each(tiny_llama_dir, tiny_sae_root, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(tests=str(Path(__file__).parent), ckpt=str(tiny_llama_dir)))
    env = {**os.environ, "SAIF_SAES": str(tiny_sae_root.root), "SAIF_RESULTS": str(tmp_path / "results"),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    argv = [sys.executable, str(driver), "steer", "--task", "translate_fr", "--model", "tiny-llama", "--alpha", "2",
            "--k", "2", "--n", "6", "--max-new-tokens", "4", "--json"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    summaries = [json.loads(o[0]) for o in outs]
    assert summaries[0] == summaries[1]
    (folder,) = [p for p in (tmp_path / "results").iterdir() if p.name.startswith("translate_fr-")]
    lines = [json.loads(x) for x in (folder / "records.jsonl").read_text().splitlines()]
    keys = [(r["condition"], r["content_id"]) for r in lines]
    assert len(keys) == len(set(keys)) == 3 * 6, "exactly one record per (condition, item)"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n"] == 6 and summaries[0]["n"] == 6


ATOMIC_DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from saif_core.atomic import write_text
    target, me = Path(sys.argv[1]), sys.argv[2]
    for i in range(500):
        write_text(target, f"{me}-{i}\\n" * 50)
""")


@pytest.mark.slow
def test_four_thousand_concurrent_atomic_writes_never_fail_or_tear(tmp_path):
    driver = tmp_path / "atomic_driver.py"
    driver.write_text(ATOMIC_DRIVER)
    target = tmp_path / "shared.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    procs = [subprocess.Popen([sys.executable, str(driver), str(target), str(n)], env=env, stderr=subprocess.PIPE,
                              text=True) for n in range(8)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    lines = target.read_text().splitlines()
    assert len(lines) == 50 and len(set(lines)) == 1, "the file is one writer's whole text"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporary file left behind"


# ---------------------------------------------------------------- 8. environment and figures

def test_a_results_path_that_is_a_file_is_named(world, capsys, monkeypatch, no_model):
    blocker = world.tmp / "results-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SAIF_RESULTS", str(blocker))
    done = run_cli(["steer", "--task", "translate_fr", "--alpha", "2"], capsys)
    assert_clear_error(done, "SAIF_RESULTS")


def test_an_sae_root_that_does_not_exist_is_named(world, capsys, monkeypatch, no_model):
    monkeypatch.setenv("SAIF_SAES", str(world.tmp / "no-saes-here"))
    assert_clear_error(run_cli(["steer", "--task", "translate_fr"], capsys), "SAIF_SAES")


@pytest.mark.parametrize("only", [["99"], ["abc"], ["02", "77"]])
def test_figures_with_unknown_notebooks_lists_them(only, capsys, monkeypatch):
    monkeypatch.setattr(cli, "run_all", lambda **kw: pytest.fail("nothing should run"))
    assert_clear_error(run_cli(["figures", *only], capsys), "00_train_saes")


def test_a_damaged_record_file_is_named(world, capsys, monkeypatch):
    record = world.tmp / "record"
    (record / "translate_fr-abc").mkdir(parents=True)
    (record / "translate_fr-abc" / "records.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    monkeypatch.setenv("SAIF_RECORD", str(record))
    assert_clear_error(run_cli(["record", "restore"], capsys), "records.jsonl.gz")


def test_a_hub_load_that_fails_after_the_reachability_check_is_one_line(capsys, monkeypatch):
    from saif_core import assets

    monkeypatch.setattr(assets, "hub_cached", lambda repo: True)

    def broken(spec, src, device, **kw):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of {src}.\nCheck your "
                      "connection.")

    monkeypatch.setattr(models, "_from_pretrained", broken)
    with pytest.raises(models.ModelError) as error:
        models._load(models.get_spec("gemma-2-2b-it"), "cpu")
    message = str(error.value)
    assert "\n" not in message and "gemma-2-2b-it" in message and "Fix:" in message


# ---------------------------------------------------------------- 9. a parameterized run never clobbers the committed figures

def test_figures_of_non_default_parameters_get_their_own_name(capsys):
    from saif_core import plots

    defaults = plots.notebook_defaults("03_topk")
    assert defaults["task"] == "translate_fr" and defaults["model"] is None
    assert plots.figure_name("03_topk", {**defaults, "__name__": "__main__"}) == "03_topk"
    name = plots.figure_name("03_topk", {**defaults, "model": "gemma-3-270m"})
    assert name == "03_topk--model=gemma-3-270m" and "03_topk--model=gemma-3-270m" in capsys.readouterr().out
    long = plots.figure_name("03_topk", {**defaults, "ks": list(range(100))})
    assert long.startswith("03_topk--") and len(long) < 40


def test_every_notebook_names_its_figures_from_its_parameters():
    """Each numbered notebook calls ``figure_name`` before it reassigns any parameter, and
    saves every figure, table and summary under that name (papermill -p ... never writes
    over the committed figures)."""
    import nbformat

    from saif_core import paths, plots

    for path in sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        first = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        params = set(plots.notebook_defaults(path.stem))
        head = cells[first + 1].source.split("\n")
        call = next(i for i, line in enumerate(head) if line.startswith(f'figure = plots.figure_name("{path.stem}"'))
        reassigned = [line for line in head[:call] if line.split("=")[0].strip() in params]
        assert not reassigned, (path.name, reassigned)
        code = "\n".join(c.source for c in cells)
        assert "plots.save_figure(fig, figure" in code or "save_table(" in code, path.name
        assert f'"{path.stem}' not in code.replace(f'figure_name("{path.stem}"', ""), \
            f"{path.name} writes a file under its fixed name"
