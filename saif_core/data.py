"""Tasks, instruction variants, contents, splits, and the positive/negative pairs of SAIF.

A *task* (``data/tasks/<id>.json``) is one instruction type with many variants of its
instruction: English paraphrases and translations into other languages, so that what the
variants share is the instruction's meaning, not its words. A *content item*
(``data/contents/*.jsonl``, one ``{"id", "text", "lang", "keyword"?}`` per line) is an input
without any instruction. A *pair* puts them together:

- positive = content and a sampled instruction variant, joined by ``SEPARATOR`` (a blank line):
  ``"<content>\\n\\n<instruction>"`` for ``placement="post"`` (the paper's better choice),
  ``"<instruction>\\n\\n<content>"`` for ``placement="pre"``;
- negative = the content alone.

Prompts here are plain user text; ``SaifModel.format_prompt`` adds the chat template later.
Splits (``data/splits.json``) are fixed once by ``python -m saif_core.data --make-splits``; run again,
it only deals out contents added since (``make_splits``).

Example:
    >>> task = get_task("translate_fr")
    >>> items = split("translate_fr", "extraction")[:4]
    >>> pairs = build_pairs(task, items, placement="post", seed=0)
    >>> p = pairs[0]
    >>> p.negative == p.content.text and p.positive == p.content.text + "\\n\\n" + p.instruction
    True
    >>> eval_prompts(task, items[0])["prompted"].endswith("Translate this text into French.")
    True
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from .contents import ContentItem, DataError, all_contents, data_root, load_contents  # noqa: F401  (re-exported)

TASK_IDS = ("translate_fr", "translate_zh", "translate_en", "keyword", "summarize")
TARGET_LANGUAGE = {"translate_fr": "fr", "translate_zh": "zh", "translate_en": "en"}  # translation task -> output language
PLACEMENTS = ("post", "pre")
SPLIT_NAMES = ("extraction", "dev", "evaluation")
VARIANT_KINDS = ("paraphrase", "translation")
SEPARATOR = "\n\n"
"""Joins content and instruction: a blank line keeps the two visibly apart in either order
(the SAE training corpus, ``saif_core.corpus``, and ``PLAIN_TEMPLATE`` use the same)."""
KEYWORD_SLOT = "{keyword}"
DEFAULT_SEED = 0
KEYWORD_TASK = "keyword"
KEYWORDS = ("lantern", "umbrella", "mirror")
"""The fixed keywords of the keyword task (``keyword:<word>``; plain ``keyword`` is the first):
everyday concrete nouns that none of the 150 keyword prompts contains, so that an answer
holds one only when the model was steered or asked to write it."""


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Variant:
    """One wording of a task's instruction, e.g. ``Variant("Summary:", "en", "paraphrase")``."""

    text: str
    lang: str
    kind: str  # "paraphrase" (English) or "translation" (another language)
    canonical: bool = False  # the fixed English wording of the 'prompted' condition

    def fill(self, keyword: str | None = None) -> str:
        """The instruction text with ``{keyword}`` replaced.

        >>> Variant('Use "{keyword}" once.', "en", "paraphrase").fill("leaves")
        'Use "leaves" once.'
        """
        if KEYWORD_SLOT not in self.text:
            return self.text
        if not keyword:
            raise DataError(f"variant {self.text!r} needs a keyword, but none was given")
        return self.text.replace(KEYWORD_SLOT, keyword)


@dataclass(frozen=True)
class Task:
    """An instruction type: what it asks, which contents it applies to, its variants."""

    id: str
    description: str
    output: str  # what a correct response looks like
    target_lang: str | None  # the output language of translation tasks
    contents: str  # name of the contents file (data/contents/<contents>.jsonl)
    exclude_langs: tuple[str, ...]  # content languages the task never uses
    eval_size: int
    dev_size: int
    variants: tuple[Variant, ...]
    keyword: str | None = None  # the fixed keyword of a ``keyword:<word>`` task (filled into its variants)

    @property
    def file_id(self) -> str:
        """The task file (and splits) this task comes from: ``keyword`` for ``keyword:<word>``."""
        return self.id.split(":", 1)[0]

    @property
    def canonical(self) -> Variant:
        """The canonical English variant, used for the 'prompted' condition."""
        return next(v for v in self.variants if v.canonical)

    @property
    def needs_keyword(self) -> bool:
        return KEYWORD_SLOT in self.variants[0].text


def load_task(path: str | Path) -> Task:
    """Read and check one task file (see ``data/README.md`` for its fields)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        variants = tuple(
            Variant(v["text"], v["lang"], v["kind"], bool(v.get("canonical", False)))
            for v in raw["variants"]
        )
        task = Task(
            raw["id"], raw["description"], raw["output"], raw.get("target_lang"),
            raw["contents"]["file"], tuple(raw["contents"].get("exclude_langs", [])),
            int(raw["splits"]["evaluation"]), int(raw["splits"]["dev"]), variants,
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: cannot read task ({type(e).__name__}: {e})") from e
    _check_task(task, path)
    return task


def _check_task(task: Task, path: Path) -> None:
    problems = []
    if task.id != path.stem:
        problems.append(f"id {task.id!r} differs from the file name {path.stem!r}")
    for v in task.variants:
        if v.kind not in VARIANT_KINDS:
            problems.append(f"variant {v.text!r} has kind {v.kind!r}, not one of {VARIANT_KINDS}")
        if (v.kind == "paraphrase") != (v.lang == "en"):
            problems.append(f"variant {v.text!r}: paraphrases are English, translations are not")
        if (KEYWORD_SLOT in v.text) != task.needs_keyword:
            problems.append(f"variant {v.text!r}: either every variant has {KEYWORD_SLOT} or none")
    canon = [v for v in task.variants if v.canonical]
    if len(canon) != 1 or canon[0].kind != "paraphrase":
        problems.append("exactly one variant must be canonical, and it must be an English paraphrase")
    if problems:
        raise DataError(f"{path}: " + "; ".join(problems))


def task_template(task_id: str, data_dir: str | Path | None = None) -> Task:
    """A task as its file writes it (the keyword task's variants keep their ``{keyword}`` slot)."""
    path = data_root(data_dir) / "tasks" / f"{task_id}.json"
    if not path.exists():
        known = sorted(p.stem for p in (data_root(data_dir) / "tasks").glob("*.json"))
        raise DataError(f"unknown task id {task_id!r}. Known ids: {', '.join(known) or 'none'} "
                        f"(and keyword:<word>, e.g. {', '.join(f'{KEYWORD_TASK}:{w}' for w in KEYWORDS)}). "
                        "Fix: pass one of these with --task.")
    return load_task(path)


def get_task(task_id: str | Task, data_dir: str | Path | None = None) -> Task:
    """The task with this id (a ``Task`` passes through). ``keyword:<word>`` is the keyword
    task with one fixed word for every item, as a steering vector needs (every variant asks
    for that word); plain ``keyword`` is ``keyword:{KEYWORDS[0]}`` under its own id.

    >>> get_task("keyword:umbrella").canonical.text
    'Include the word "umbrella" in your response.'
    """
    if isinstance(task_id, Task):
        return task_id
    name, colon, word = task_id.partition(":")
    if name != KEYWORD_TASK:
        if word:
            raise DataError(f"task id {task_id!r}: only the keyword task takes a ':<word>' suffix. "
                            f"Fix: pass --task {name}.")
        return task_template(name, data_dir)
    word = word or ("" if colon else KEYWORDS[0])
    if not word.replace("-", "").isalpha():
        raise DataError(f"task id {task_id!r}: the keyword must be one word of letters. "
                        "Fix: pass e.g. --task keyword:lantern.")
    template = task_template(KEYWORD_TASK, data_dir)
    variants = tuple(replace(v, text=v.fill(word)) for v in template.variants)
    return replace(template, id=task_id, variants=variants, keyword=word,
                   description=f"Answer the prompt and use the word {word!r} in the answer.",
                   output=f"A normal answer to the prompt in which {word!r} occurs as a whole word.")


# ---------------------------------------------------------------- contents


def task_contents(task: str | Task, data_dir: str | Path | None = None) -> list[ContentItem]:
    """The content items a task may use: its contents file, minus its excluded languages."""
    task = get_task(task, data_dir)
    path = data_root(data_dir) / "contents" / f"{task.contents}.jsonl"
    return [it for it in load_contents(path) if it.lang not in task.exclude_langs]


# ---------------------------------------------------------------- splits


def _stratified(items: list[ContentItem], rng: random.Random) -> list[ContentItem]:
    """Shuffle within each language, then interleave the languages in proportion to their
    sizes, so that every prefix (hence every split) has about the same language mix."""
    by_lang: dict[str, list[ContentItem]] = {}
    for it in sorted(items, key=lambda it: it.id):
        by_lang.setdefault(it.lang or "", []).append(it)
    keyed = []
    for lang in sorted(by_lang):
        group = by_lang[lang]
        rng.shuffle(group)
        keyed += [((i + 0.5) / len(group), lang, it) for i, it in enumerate(group)]
    return [it for _, _, it in sorted(keyed, key=lambda k: k[:2])]


def make_splits(seed: int = DEFAULT_SEED, data_dir: str | Path | None = None, keep: dict | None = None,
                exclude=()) -> dict:
    """Fixed, disjoint splits for every task: ``{"seed", "tasks": {task: {split: [ids]}}, "added"}``.

    From scratch (``keep`` None), per task: its eligible contents (less ``exclude``) in stratified
    random order; the first ``eval_size`` go to ``evaluation``, the next ``dev_size`` to ``dev``,
    the rest to ``extraction``.

    Growing (``keep``: the current splits): every id already assigned stays where it is, and only
    the contents new to a task are dealt out, in its stratified order: to ``evaluation`` up to
    ``eval_size``, then ``dev`` up to ``dev_size``, the rest appended to ``extraction``; so no
    evaluation item moves (the SAE corpus leaves them out) and extraction keeps its order (its
    prefix makes the pairs). ``added``: per task, the ids dealt out after the first draw."""
    out = {"seed": seed, "generated_by": "python -m saif_core.data --make-splits", "tasks": {},
           "added": {t: list(ids) for t, ids in (keep or {}).get("added", {}).items()}}
    exclude = set(exclude)
    for task_id in TASK_IDS:
        task = get_task(task_id, data_dir)
        items = [it for it in task_contents(task, data_dir) if it.id not in exclude]
        order = [it.id for it in _stratified(items, random.Random(f"{seed}:{task_id}"))]
        old = (keep or {}).get("tasks", {}).get(task_id)
        if old is None:
            if len(order) <= task.eval_size + task.dev_size:
                raise DataError(f"{task_id}: {len(order)} contents leave nothing for extraction")
            e, d = task.eval_size, task.eval_size + task.dev_size
            out["tasks"][task_id] = {"extraction": order[d:], "dev": order[e:d], "evaluation": order[:e]}
            continue
        parts = {name: list(old.get(name, [])) for name in ("extraction", "dev", "evaluation")}
        assigned = {i for ids in parts.values() for i in ids}
        gone = sorted(assigned - set(order))
        if gone:
            raise DataError(f"{task_id}: the splits name ids that are no longer among its contents: {gone[:5]}. "
                            "Fix: restore those contents (a split never loses an item), or start over with "
                            "--reshuffle, which draws every split again, evaluation included.")
        new = [i for i in order if i not in assigned]
        for i in new:
            name = ("evaluation" if len(parts["evaluation"]) < task.eval_size
                    else "dev" if len(parts["dev"]) < task.dev_size else "extraction")
            parts[name].append(i)
        if new:
            out["added"][task_id] = out["added"].get(task_id, []) + new
        out["tasks"][task_id] = parts
    return out if any(out["added"].values()) else {k: v for k, v in out.items() if k != "added"}


def load_splits(data_dir: str | Path | None = None) -> dict:
    path = data_root(data_dir) / "splits.json"
    if not path.exists():
        raise DataError(f"{path} is missing. Fix: python -m saif_core.data --make-splits")
    return json.loads(path.read_text(encoding="utf-8"))


def split(task: str | Task, name: str, data_dir: str | Path | None = None) -> list[ContentItem]:
    """The content items of one split of a task, in the stored order.

    >>> len(split("summarize", "evaluation"))
    100
    """
    task_id = get_task(task, data_dir).file_id
    if name not in SPLIT_NAMES:
        raise DataError(f"unknown split {name!r}. Known splits: {', '.join(SPLIT_NAMES)}.")
    ids = load_splits(data_dir)["tasks"].get(task_id, {}).get(name, [])
    if not ids:
        raise DataError(f"split {name!r} of task {task_id!r} is empty. Fix: python -m saif_core.data --make-splits")
    contents = all_contents(data_dir)
    missing = [i for i in ids if i not in contents]
    if missing:
        raise DataError(f"split {name!r} of {task_id!r} names unknown content ids: {missing[:5]}")
    return [contents[i] for i in ids]


# ---------------------------------------------------------------- pairs and prompts


@dataclass(frozen=True)
class Pair:
    """Positive (content + instruction) and negative (content alone) prompts of one item."""

    task_id: str
    content: ContentItem
    variant: Variant
    instruction: str  # the variant's text, keyword filled in
    placement: str
    positive: str
    negative: str


def join(content: str, instruction: str, placement: str = "post") -> str:
    """Content and instruction in the placement's order.

    >>> join("Bonjour.", "Translate this text into English.", "pre")
    'Translate this text into English.\\n\\nBonjour.'
    """
    if placement not in PLACEMENTS:
        raise DataError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    return instruction + SEPARATOR + content if placement == "pre" else content + SEPARATOR + instruction


def build_pairs(task: str | Task, items, placement: str = "post", seed: int = DEFAULT_SEED,
                n: int | None = None) -> list[Pair]:
    """One pair per item (or ``n`` pairs, cycling through the items), deterministic in ``seed``.

    Variants are dealt like cards from seeded shuffles of the whole set, so every block of
    ``len(task.variants)`` pairs uses each variant once. The variant sequence depends on
    the task and seed only, so post and pre pairs of the same seed differ only in order.
    """
    task = get_task(task)
    items = list(items)
    if placement not in PLACEMENTS:
        raise DataError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if not items:
        raise DataError("build_pairs needs at least one content item")
    n = len(items) if n is None else n
    if n < 1:
        raise DataError(f"n must be at least 1, got {n}")
    rng = random.Random(f"{task.id}:{seed}")
    deck: list[Variant] = []
    while len(deck) < n:
        deck += rng.sample(task.variants, len(task.variants))
    pairs = []
    for i in range(n):
        item, variant = items[i % len(items)], deck[i]
        if task.needs_keyword and not item.keyword:
            raise DataError(f"content {item.id!r} has no keyword, which task {task.id!r} needs")
        instruction = variant.fill(item.keyword)
        pairs.append(Pair(task.id, item, variant, instruction, placement,
                          join(item.text, instruction, placement), item.text))
    return pairs


def eval_prompts(task: str | Task, item: ContentItem, placement: str = "post") -> dict[str, str]:
    """The evaluation prompts of an item: ``original`` (the content alone, the condition
    steering starts from) and ``prompted`` (content + the task's canonical English variant)."""
    task = get_task(task)
    return {"original": item.text,
            "prompted": join(item.text, task.canonical.fill(item.keyword), placement)}


def format_prompts(model, prompts: list[str]) -> list[str]:
    """Prompts as the model sees them (chat template or plain), via ``model.format_prompt``."""
    return [model.format_prompt(p) for p in prompts]


# ---------------------------------------------------------------- command line


def summary(data_dir: str | Path | None = None) -> str:
    """Counts of variants, contents and splits, as printed by ``--summary``."""
    lines = []
    for task_id in TASK_IDS:
        task = get_task(task_id, data_dir)
        langs = Counter(v.lang for v in task.variants)
        kinds = Counter(v.kind for v in task.variants)
        lines.append(f"{task_id}: {len(task.variants)} variants {dict(kinds)} by language {dict(langs)}")
    for path in sorted((data_root(data_dir) / "contents").glob("*.jsonl")):
        items = load_contents(path)
        lines.append(f"{path.name}: {len(items)} by language {dict(Counter(c.lang for c in items))}")
    contents = all_contents(data_dir).values()
    lines.append(f"contents: {len(contents)} by language {dict(Counter(c.lang for c in contents))}")
    for task_id, splits in load_splits(data_dir)["tasks"].items():
        lines.append(f"splits {task_id}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m saif_core.data", description=__doc__.split("\n")[0])
    parser.add_argument("--make-splits", action="store_true",
                        help="write data/splits.json: an existing one is grown (every item stays in its split; "
                             "new contents are dealt out), see make_splits")
    parser.add_argument("--reshuffle", action="store_true",
                        help="with --make-splits: draw every split again from scratch (moves evaluation items)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--summary", action="store_true", help="print counts of tasks, contents, splits")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    if args.make_splits:
        path = data_root(args.data_dir) / "splits.json"
        keep = None if args.reshuffle or not path.exists() else json.loads(path.read_text(encoding="utf-8"))
        splits = make_splits(keep["seed"] if keep else args.seed, args.data_dir, keep=keep)
        path.write_text(json.dumps(splits, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    if args.summary or not args.make_splits:
        print(summary(args.data_dir))


if __name__ == "__main__":
    main()
