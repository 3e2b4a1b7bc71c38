"""The shipped record: saved from a results store, restored into one without overwriting."""
import gzip
import json

from saif_core import record


def make_store(root):
    run = root / "translate_fr-abc"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"task": "translate_fr"}')
    (run / "records.jsonl").write_text("".join(json.dumps({"content_id": i}) + "\n" for i in range(3)))
    (run / ".lock").write_text("")
    (root / "vectors").mkdir()
    (root / "vectors" / "translate_fr-pairs-1.safetensors").write_bytes(b"\x00\x01")
    (root / ".gitkeep").write_text("")


def test_save_then_restore_round_trips_and_gzips_records_reproducibly(tmp_path):
    make_store(tmp_path / "results")
    got = record.save(tmp_path / "results", tmp_path / "record")
    assert (got["files"], got["records"]) == (3, 3)
    gz = tmp_path / "record" / "translate_fr-abc" / "records.jsonl.gz"
    first = gz.read_bytes()
    assert gzip.decompress(first).count(b"\n") == 3
    assert not (tmp_path / "record" / "translate_fr-abc" / ".lock").exists()
    record.save(tmp_path / "results", tmp_path / "record")
    assert gz.read_bytes() == first  # no timestamp: the same store gives the same bytes

    fresh = tmp_path / "fresh"
    assert record.restore(tmp_path / "record", fresh) == {"files": 3, "records": 3}
    assert (fresh / "translate_fr-abc" / "records.jsonl").read_text() == \
        (tmp_path / "results" / "translate_fr-abc" / "records.jsonl").read_text()
    assert (fresh / "vectors" / "translate_fr-pairs-1.safetensors").read_bytes() == b"\x00\x01"


def test_restore_never_overwrites_what_the_store_has(tmp_path):
    make_store(tmp_path / "results")
    record.save(tmp_path / "results", tmp_path / "record")
    store = tmp_path / "store"
    (store / "translate_fr-abc").mkdir(parents=True)
    (store / "translate_fr-abc" / "records.jsonl").write_text('{"content_id": "mine"}\n')
    got = record.restore(tmp_path / "record", store)
    assert got == {"files": 2, "records": 0}
    assert (store / "translate_fr-abc" / "records.jsonl").read_text() == '{"content_id": "mine"}\n'


def test_save_without_a_store_names_the_fix(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="Fix"):
        record.save(tmp_path / "missing", tmp_path / "record")
