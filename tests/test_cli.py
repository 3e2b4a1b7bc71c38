"""Bad arguments fail at the parser, before anything loads: one line naming the flag, exit 2."""
import pytest

from saif_core import cli


@pytest.mark.parametrize("argv, flag", [
    (["bench", "--batch-size", "-1"], "--batch-size"),
    (["bench", "--batch-size", "0"], "--batch-size"),
    (["bench", "--repeats", "0"], "--repeats"),
    (["sae-eval", "--text-file", "x.txt", "--max-docs", "-1"], "--max-docs"),
    (["steer", "--task", "translate_fr", "--n", "0"], "--n"),
    (["steer", "--task", "translate_fr", "--k", "two"], "--k"),
    (["steer", "--task", "translate_fr", "--alpha", "lots"], "--alpha"),
    (["steer", "--task", "translate_fr", "--alpha", "1e300"], "--alpha"),
    (["steer", "--task", "translate_fr", "--alpha", "nan"], "--alpha"),
])
def test_bad_numbers_exit_2_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err


def test_good_numbers_parse():
    args = cli.build_parser().parse_args(["steer", "--task", "translate_fr", "--alpha", "3", "--n", "5"])
    assert args.alpha == 3.0 and args.n == 5
    assert cli.build_parser().parse_args(["steer", "--task", "translate_fr"]).alpha == "auto"


def test_figures_with_an_unknown_notebook_lists_the_notebooks(capsys, monkeypatch):
    monkeypatch.setattr(cli, "run_all", lambda **kw: pytest.fail("nothing should run"))
    assert cli.main(["figures", "99"]) == 2
    err = capsys.readouterr().err
    assert "no notebook starts with '99'" in err and "00_train_saes" in err and "11_tables" in err
