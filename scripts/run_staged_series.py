"""Run the protocol notebooks (scripts/build_notebooks.py) a piece at a time, keeping every
generation in the shipped record, so a series too long for one sitting is made over several.

    python scripts/run_staged_series.py [--out DIR] [--until HH:MM] [NAME ...]

1. the results store (``SAIF_RESULTS``, default ``results/``) gets what it lacks from the record,
   and every run's original and prompted outputs join the unsteered store (``saif_core.unsteered``);
2. the notebooks are built into ``--out`` (default ``build/series``; not the committed ones,
   whose outputs nbval checks against the record);
3. each named notebook (default: 02-11 in order) is executed there with papermill, and after
   each one the whole store is written back into the record (``saif record save``), so what was
   generated survives even if a later notebook is stopped. ``--until`` stops before starting a
   notebook after that time of day.

Generations are stored as they are made, so running it again resumes: a notebook that stopped
half way makes only what it lacks. When every notebook has run, copy the executed notebooks over
the committed ones, run ``saif figures`` (0 generations: it re-derives the figures and the claims
table from the record) and commit the whole set.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import sys
import time
from pathlib import Path

from saif_core import paths, record, unsteered

HERE = Path(__file__).resolve().parent


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", HERE / "build_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def past(until: str | None) -> bool:
    """Whether the time of day ``HH:MM`` has passed (None: never)."""
    if not until:
        return False
    h, m = (int(x) for x in until.split(":"))
    now = dt.datetime.now()
    return now >= now.replace(hour=h, minute=m, second=0, microsecond=0)


def main(argv: list[str] | None = None) -> int:
    import papermill as pm

    B = _builder()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=paths.REPO / "build" / "series")
    p.add_argument("--until", help="start no notebook after this time of day (HH:MM)")
    p.add_argument("names", nargs="*", help=f"default: {' '.join(B.BUILDERS)}")
    args = p.parse_args(argv)
    names = args.names or list(B.BUILDERS)
    print("restored from the record:", record.restore(), flush=True)
    print("unsteered outputs shared from earlier runs:", unsteered.seed_from_runs(paths.results_root()), flush=True)
    B.main(["--out", str(args.out), *names])
    for name in names:
        if past(args.until):
            print(f"stopping before {name}: past {args.until}", flush=True)
            break
        before, t0 = record.generations(), time.perf_counter()
        nb = args.out / f"{name}.ipynb"
        try:
            pm.execute_notebook(str(nb), str(nb), kernel_name="python3", cwd=str(paths.NOTEBOOKS), progress_bar=False,
                                log_output=False)
            status = "done"
        except Exception as err:  # noqa: BLE001 -- keep what was generated, report, go on
            status = f"stopped: {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        made = record.generations() - before
        saved = record.save()
        print(f"{name}: {status}; {time.perf_counter() - t0:.0f} s, {made} generations made; record: "
              f"{saved['records']} generations, {saved['bytes'] / 1e6:.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
