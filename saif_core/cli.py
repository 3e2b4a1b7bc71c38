"""The ``saif`` command. Each subcommand is a thin wrapper over a library function.

    saif doctor                      is the embedded default usable offline?
    saif sae-eval --text-file F      SAE health (FVU, L0, dead fraction, CE increase)
    saif judge IN.jsonl              strict / loose / fail verdicts (saif_core.evaluate)
    saif steer --task T --json       original / prompted / steered strict and loose accuracy
    saif bench --json                steered vs unsteered throughput
    saif figures [NN ...] [--fresh]  run the notebook series with papermill (from the shipped record)
    saif record save|restore         the shipped record of the study's generations
    saif verify [--sample F]         re-generate a sample of the shipped record, compare exactly
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

from . import paths, record, verify
from .bench import run_bench
from .doctor import print_report, run_doctor
from .evaluate import LABELS, accuracy_by, agreement, judge, judge_records
from .contents import DataError, check_unicode, decode_lines, read_lines
from .rubric import base_task
from .config import MAX_ALPHA, VECTOR_KINDS, WEIGHTINGS
from .experiments import ConfigError, RunConfig, eval_items, run, validate, with_alpha
from .llm_judge import LLMJudge, LLMJudgeError, agreement_report
from .models import DEFAULT_MODEL, ModelError, get_spec, load_model
from .notebook_runner import numbered_notebooks, run_all
from .sae_metrics import sae_metrics
from .saes import SAEError, check_sae_files, default_sae_id, get_sae_spec, load_sae, read_text_file


def cmd_doctor(args) -> int:
    get_spec(args.model)  # an unknown id is a usage error, not a failed check
    checks = run_doctor(model_id=args.model)
    print_report(checks)
    return 0 if all(c.ok for c in checks if c.required) else 1


def cmd_sae_eval(args) -> int:
    texts = read_text_file(args.text_file)[: args.max_docs]
    get_spec(args.model)
    sae_id = args.sae or default_sae_id(args.model)
    spec = get_sae_spec(sae_id)
    check_sae_files(spec)  # a damaged SAE is refused before the model loads
    model = load_model(args.model if args.sae is None else spec.model)
    sae = load_sae(sae_id, model)
    metrics = {"model": model.id, "sae": sae_id, "hook": spec.hook,
               **sae_metrics(model, sae, spec.layer, texts, max_len=args.max_len)}
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        for k, v in metrics.items():
            print(f"{k:>14}  {v:.4f}" if isinstance(v, float) else f"{k:>14}  {v}")
    return 0


def cmd_record(args) -> int:
    if args.action == "save":
        got = record.save()
        print(f"record: {got['records']} generations, {got['files']} files, {got['bytes'] / 1e6:.1f} MB "
              f"in {paths.record_root()}")
    else:
        got = record.restore()
        print(f"record: {got['records']} generations read, {got['files']} files written to {paths.results_root()}")
    return 0


def cmd_figures(args) -> int:
    known = [p.stem for p in numbered_notebooks()]
    unmatched = [o for o in args.only if not any(k.startswith(o) or f"{k}.ipynb" == o for k in known)]
    if unmatched:
        print(f"saif figures: error: no notebook starts with {', '.join(map(repr, unmatched))}. "
              f"Fix: pass prefixes of {', '.join(known)} (e.g. 02 05; 0 selects 00-09).", file=sys.stderr)
        return 2
    paths.check_folder("SAIF_RESULTS", paths.results_root())
    paths.check_folder("SAIF_FIGURES", paths.figures_root())
    if args.fresh:
        print("--fresh: the shipped record is not read; every missing generation is made now", flush=True)
    else:
        got = record.restore()
        print(f"shipped record: {got['records']} generations read into the results store "
              f"({got['files']} files it lacked; {paths.record_root()})", flush=True)
    before = record.generations()
    timings = run_all(only=args.only or None)
    if timings:
        made = record.generations() - before
        print(f"{len(timings)} notebook(s) in {sum(timings.values()) / 60:.1f} min; {made} generation(s) made now "
              f"(the rest read from the store); figures in {paths.figures_root()}")
    return 0


def cmd_verify(args) -> int:
    got = verify.verify(sample=args.sample, seed=args.seed, progress=not args.json)
    if args.json:
        print(json.dumps(got, indent=1, ensure_ascii=False))
        return 0
    print(f"{got['checked']} of {got['record_generations']} shipped generations re-generated (seed {got['seed']}): "
          f"{got['matched']} identical, exact-match rate {got['exact_match_rate']:.1%}")
    for model_id, s in got["by_model"].items():
        print(f"  {model_id}: {s['matched']}/{s['checked']}")
    for d in got["divergences"]:
        print(f"  differs: {d['run']} {d['condition']} {d['content_id']} after {d['common_prefix_chars']} chars")
    return 0


def at_least(low: int):
    """argparse type: a whole number >= ``low`` (bad values exit 2 with the flag's name)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not >= {low}")
        return value
    return parse


def number_in(low: float, high: float, hint: str):
    """argparse type: a finite number in (``low``, ``high``]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and low < value <= high):
            raise argparse.ArgumentTypeError(f"{text} is not in ({low:g}, {high:g}] ({hint})")
        return value
    return parse


positive_int = at_least(1)
fraction = number_in(0, 1, "e.g. 0.02 for 2%")
penalty = number_in(0, 10, "1.0 is off; 1.1-1.5 is usual")


def strength(text: str):
    """argparse type: ``auto`` or a finite steering strength of at most ``config.MAX_ALPHA`` in size."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'auto'") from None
    if not math.isfinite(value) or abs(value) > MAX_ALPHA:
        raise argparse.ArgumentTypeError(f"{text} is not a finite strength of at most {MAX_ALPHA:g} in size "
                                         "(try 0.1-20 x the residual norm at the layer, or 'auto')")
    return value


def cmd_steer(args) -> int:
    cfg = RunConfig(model=args.model, sae=args.sae, task=args.task, placement=args.placement, layer=args.layer,
                    k=args.k, contents=args.contents, n_eval=args.n, max_new_tokens=args.max_new_tokens,
                    vector=args.vector, weighting=args.weighting, vector_task=args.vector_task, seed=args.seed,
                    repetition_penalty=args.repetition_penalty)
    items = eval_items(validate(cfg))  # every input checked before the dev sweep loads a model
    if args.n is not None and args.n > len(items):
        raise ConfigError(f"--n {args.n} is more than the {len(items)} evaluation items of {cfg.task}"
                          f"{' in ' + cfg.contents if cfg.contents else ''}. Fix: pass --n {len(items)} or less.")
    paths.check_folder("SAIF_RESULTS", paths.results_root())
    cfg, dev = with_alpha(cfg, args.alpha, progress=not args.json)
    s = run(cfg, progress=not args.json)
    out = {"n": s["n"], "latents": s["latents"], "key": s["key"], "task": cfg.task, "alpha": cfg.alpha, "k": cfg.k,
           "layer": s["config"]["layer"], "sae": s["config"]["sae"], "repetition_penalty": cfg.repetition_penalty}
    if dev:
        out["alpha_chosen_on_dev"] = dev
    out.update({c: {m: s[c][m] for m in ("strict", "loose", "strict_ci", "loose_ci")} for c in cfg.conditions})
    print(json.dumps(out, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def cmd_bench(args) -> int:
    get_spec(args.model)
    t0 = time.perf_counter()
    model = load_model(args.model)
    load_s = time.perf_counter() - t0  # from the dequantized cache, once it exists
    try:
        sae = load_sae(default_sae_id(model.id), model)
    except SAEError:
        sae = None
    out = {"model_load_s": round(load_s, 2), **run_bench(model, sae, batch_size=args.batch_size,
                                                         max_new_tokens=args.max_new_tokens, repeats=args.repeats)}
    print(json.dumps(out, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


JUDGE_FIX = "Fix: each line needs \"task\", \"source\" and \"response\" strings (optional \"keyword\", \"reference\")."


def read_judge_records(lines) -> list[dict]:
    """Parses and checks every line of a ``saif judge`` input before anything is judged;
    a bad line raises ValueError naming its number. Blank lines are skipped. ``lines``:
    strings, or ``(line number, string)`` pairs as ``contents.read_lines`` gives them.

    >>> read_judge_records(['{"task": "keyword", "source": "s", "response": "r"}'])
    Traceback (most recent call last):
    ...
    ValueError: line 1: task 'keyword' needs a non-empty 'keyword' string (or use keyword:<word>)...
    """
    records = []
    numbered = (item if isinstance(item, tuple) else (n, item) for n, item in enumerate(lines, start=1))
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"line {number}: not valid JSON ({error.msg} at column {error.colno}). {JUDGE_FIX}") from None
        if not isinstance(record, dict):
            raise ValueError(f"line {number}: expected a JSON object, got {type(record).__name__}. {JUDGE_FIX}")
        check_unicode(record, f"line {number}")
        for name in ("task", "source", "response"):
            if not isinstance(record.get(name), str):
                problem = "missing" if name not in record else f"not a string ({record[name]!r})"
                raise ValueError(f"line {number}: field {name!r} is {problem}. {JUDGE_FIX}")
        try:
            task = base_task(record["task"])
        except ValueError as error:
            raise ValueError(f"line {number}: {error}. Fix: use one of these tasks.") from None
        if record["task"].startswith("keyword:") and "keyword" not in record:
            record["keyword"] = record["task"].split(":", 1)[1]
        keyword = record.get("keyword")
        if task == "keyword" and not (isinstance(keyword, str) and keyword.strip()):
            raise ValueError(f"line {number}: task 'keyword' needs a non-empty 'keyword' string (or use keyword:<word>). "
                             "Fix: add \"keyword\" to that line.")
        if record.get("reference") is not None and not isinstance(record["reference"], str):
            raise ValueError(f"line {number}: field 'reference', when present, must be a string. {JUDGE_FIX}")
        records.append(record)
    return records


def run_judge_command(args) -> int:
    """``saif judge IN.jsonl``: verdicts to stdout as JSONL; exit 2 on a malformed input."""
    source = "standard input" if args.input == "-" else args.input
    try:
        if args.input == "-":
            raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
            records = read_judge_records(decode_lines(raw, source))
        else:
            records = read_judge_records(read_lines(args.input))
    except DataError as error:  # the file itself: missing, a folder, not UTF-8 (names file and line)
        print(f"saif judge: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"saif judge: error: {source}, {error}", file=sys.stderr)
        return 2
    if args.agreement and not all(r.get("label") in LABELS for r in records):
        missing = next(i for i, r in enumerate(records, 1) if r.get("label") not in LABELS)
        print(f"saif judge: error: {source}: --agreement needs a hand 'label' ({' | '.join(LABELS)}) on every record; "
              f"record {missing} has {records[missing - 1].get('label', 'none')!r}. Fix: add the label, or drop "
              "--agreement.", file=sys.stderr)
        return 2
    judge_fn = judge
    if args.agreement:
        report = agreement(records, judge_fn)
        print(json.dumps(report, indent=1) if args.json else report["text"])
        return 0
    if getattr(args, "llm", None):
        llm = LLMJudge(model=args.llm, base_url=args.base_url)
        judge_fn = llm.judge
        print(agreement_report(records, llm)["text"], file=sys.stderr)
    judged = judge_records(records, judge_fn)
    for verdict in judged:
        print(json.dumps(verdict, ensure_ascii=False))
    if args.summary:
        for task, result in sorted(accuracy_by(judged, key="task").items()):
            print(f"{task:<14} n={result['n']:<4} SA={result['strict']:.1%} LA={result['loose']:.1%}",
                  file=sys.stderr)
    return 0


def add_judge_command(subparsers) -> None:
    """Registers ``saif judge`` on the ``saif`` command's subparsers."""
    parser = subparsers.add_parser(
        "judge", help="strict / loose / fail verdicts for a JSONL of task, source, response[, keyword, reference]",
        description="Reads {task, source, response, keyword?, reference?} per line (a file, or - for stdin) and "
                    "writes the same records with 'label' and 'reason' added to stdout. Without a 'reference' "
                    "(the reference translation, or summary), meaning is not checked and nothing is strict.")
    parser.add_argument("input", help="JSONL file, or - for stdin")
    parser.add_argument("--agreement", action="store_true",
                        help="the input is hand-labelled ('label', optional 'split'): report the judge's agreement "
                             "with the labels per split, task and label, with confusion matrices")
    parser.add_argument("--json", action="store_true", help="with --agreement: print the report as JSON")
    parser.add_argument("--summary", action="store_true", help="print SA / LA per task to stderr")
    parser.add_argument("--llm", metavar="MODEL", default=None,
                        help="judge with an LLM at an OpenAI-compatible endpoint instead of the rules, "
                             "and print its agreement with the rules to stderr")
    parser.add_argument("--base-url", default=None,
                        help="endpoint for --llm (default: $OPENAI_BASE_URL, else api.openai.com)")
    parser.set_defaults(func=run_judge_command)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saif", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("doctor", help="check packages, assets, the default model, parity and the shipped SAEs")
    d.add_argument("--model", default=DEFAULT_MODEL, help="model to load and check (default: %(default)s)")
    d.set_defaults(func=cmd_doctor)

    e = sub.add_parser("sae-eval", help="FVU, L0, dead fraction and CE-loss increase of an SAE on a text file")
    e.add_argument("--model", default=DEFAULT_MODEL, help="model (default: %(default)s); implied by --sae")
    e.add_argument("--sae", default=None, help="SAE id (default: the model's steering SAE, at its steering layer)")
    e.add_argument("--text-file", required=True, help="one document per line, or .jsonl with a 'text' field")
    e.add_argument("--max-len", type=at_least(2), default=128, help="tokens per document (default: %(default)s)")
    e.add_argument("--max-docs", type=positive_int, default=None, help="evaluate only the first N documents")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(func=cmd_sae_eval)

    s = sub.add_parser("steer", help="extract latents on a task, steer, judge: original / prompted / steered accuracy")
    s.add_argument("--task", required=True, help="translate_fr | translate_zh | translate_en | keyword | summarize")
    s.add_argument("--contents", default=None, help="contents JSONL to evaluate on (default: the task's evaluation split)")
    s.add_argument("--model", default=DEFAULT_MODEL)
    s.add_argument("--sae", default=None, help="SAE id (default: the model's SAE at --layer, or its steering SAE)")
    s.add_argument("--layer", type=int, default=None, help="layer to read and steer (default: the SAE's)")
    s.add_argument("--placement", choices=["post", "pre"], default="post", help="instruction placement of the extraction pairs")
    s.add_argument("--k", type=positive_int, default=8, help="number of latents (default: %(default)s)")
    s.add_argument("--alpha", type=strength, default="auto", help="steering strength, or 'auto' (default): the best of "
                   "2, 3, 4 on the task's dev split (steered strict, then loose accuracy)")
    s.add_argument("--vector", choices=list(VECTOR_KINDS), default="saif",
                   help="saif (default) or a control: diff_means, single_latent, random_direction, random_latents "
                        "(the random ones have unit norm: --alpha is their norm)")
    s.add_argument("--weighting", choices=list(WEIGHTINGS), default=RunConfig.weighting,
                   help="weight each latent by its activation with minus without the instruction (difference, the "
                        "paper's) or with it (strength); default: %(default)s")
    s.add_argument("--vector-task", default=None, help="build the vector from another task's pairs (a cross-task control)")
    s.add_argument("--n", type=positive_int, default=None, help="evaluate on the first N evaluation items only "
                   "(the dev sweep of --alpha auto always uses the whole dev split)")
    s.add_argument("--max-new-tokens", type=positive_int, default=128)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--repetition-penalty", type=penalty, default=1.0,
                   help="HF generate's repetition penalty for every condition (default 1.0: plain greedy)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_steer)

    b = sub.add_parser("bench", help="steered vs unsteered tokens/s, latent extraction vs a plain forward pass")
    b.add_argument("--model", default=DEFAULT_MODEL)
    b.add_argument("--batch-size", type=positive_int, default=32)
    b.add_argument("--max-new-tokens", type=positive_int, default=64)
    b.add_argument("--repeats", type=positive_int, default=3)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

    f = sub.add_parser("figures", help="run every numbered notebook with papermill (what `make figures` calls)")
    f.add_argument("only", nargs="*", help="notebook prefixes to run (default: all), e.g. 02 05")
    f.add_argument("--fresh", action="store_true", help="ignore the shipped record (record/): generate everything "
                   "the results store lacks")
    f.set_defaults(func=cmd_figures)

    r = sub.add_parser("record", help="save the results store as the shipped record, or restore it into a store")
    r.add_argument("action", choices=["save", "restore"])
    r.set_defaults(func=cmd_record)

    v = sub.add_parser("verify", help="re-generate a seeded sample of the shipped record and compare the outputs")
    v.add_argument("--sample", type=fraction, default=0.02, help="fraction of the generations (default %(default)s)")
    v.add_argument("--seed", type=int, default=0, help="which sample (default %(default)s)")
    v.add_argument("--json", action="store_true", help="print JSON, every divergence included")
    v.set_defaults(func=cmd_verify)

    add_judge_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ModelError, SAEError, LLMJudgeError, ValueError, OSError) as e:  # Config/Data/SteeringError: ValueErrors
        print(f"saif {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)  # always one line
        return 2


if __name__ == "__main__":
    sys.exit(main())
