"""``saif verify``: a sample of the shipped record is generated again and compared exactly."""
import gzip
import json

import pytest

from saif_core import cli, experiments, record, verify
from saif_core.config import RunConfig


@pytest.fixture
def shipped(tiny_env, tmp_path):
    """A record of two tiny runs (one steered at alpha 2, one at alpha 4), as `saif record save` writes it."""
    for alpha in (2.0, 4.0):
        experiments.run(RunConfig(model="tiny-llama", task="translate_fr", alpha=alpha, k=2, n_extract=8, n_eval=5,
                                  max_new_tokens=6), root=tiny_env.results, progress=False)
    rec = tmp_path / "record"
    record.save(tiny_env.results, rec)
    return rec


def test_the_whole_record_regenerates_identically(shipped):
    got = verify.verify(sample=1.0, record=shipped, progress=False)
    assert got["record_generations"] == got["checked"] == 2 * 3 * 5
    assert got["exact_match_rate"] == 1.0 and got["divergences"] == []
    assert got["by_model"] == {"tiny-llama": {"checked": 30, "matched": 30}}


def test_a_tampered_output_is_reported_with_where_it_diverges(shipped, capsys, monkeypatch):
    gz = sorted(shipped.rglob("records.jsonl.gz"))[0]
    lines = gzip.decompress(gz.read_bytes()).decode().splitlines()
    rec = json.loads(lines[0])
    shipped_output = rec["output"]
    rec["output"] = shipped_output[:2] + "#tampered"
    lines[0] = json.dumps(rec, ensure_ascii=False)
    gz.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    got = verify.verify(sample=1.0, record=shipped, progress=False)
    (d,) = got["divergences"]
    assert (d["content_id"], d["condition"], d["regenerated"]) == (rec["content_id"], rec["condition"], shipped_output)
    assert d["common_prefix_chars"] >= 2 and got["matched"] == 29
    monkeypatch.setenv("SAIF_RECORD", str(shipped))
    assert cli.main(["verify", "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert "29 identical" in out and f"differs: {gz.parent.name}" in out


def test_a_sample_is_seeded_and_at_least_one(shipped):
    a = verify.verify(sample=0.1, seed=3, record=shipped, progress=False)
    b = verify.verify(sample=0.1, seed=3, record=shipped, progress=False)
    assert a == b and a["checked"] == 3
    assert verify.verify(sample=0.001, record=shipped, progress=False)["checked"] == 1


@pytest.mark.parametrize("argv, words", [(["verify", "--sample", "0"], "--sample"),
                                         (["verify", "--sample", "2"], "--sample"),
                                         (["verify", "--sample", "some"], "--sample")])
def test_bad_samples_fail_at_the_parser(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and words in capsys.readouterr().err


def test_no_record_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SAIF_RECORD", str(tmp_path / "none"))
    assert cli.main(["verify"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("saif verify: error: no shipped record") and "Fix:" in err and "\n" not in err
