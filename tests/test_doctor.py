import pytest

from saif_core.doctor import print_report, run_doctor


@pytest.mark.slow
def test_doctor_checks_the_embedded_default(capsys):
    checks = {c.name: c for c in run_doctor()}
    for name in ["package transformer-lens", "package sae-lens", "asset smollm2-135m-instruct",
                 "asset gemma-3-270m", "load smollm2-135m-instruct", "HF vs TransformerLens logits"]:
        assert checks[name].ok, f"{name}: {checks[name].detail}"
    assert not checks["paper profile"].required  # informational only
    steering = checks["steering SAE of smollm2-135m-instruct"]
    assert steering.ok, steering.detail
    print_report(list(checks.values()))
    assert "embedded default usable offline" in capsys.readouterr().out
