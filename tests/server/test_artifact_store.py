"""`RunMirror`: a run's folder kept in step with an object store (here fsspec's local-file
implementation, the same code path as s3://), and `local_copy` for the API."""
from __future__ import annotations

from types import SimpleNamespace

from server.artifact_store import RunMirror, local_copy, mirror


def test_push_uploads_new_and_changed_files_only_and_never_partial_ones(tmp_path):
    store, local = tmp_path / "store", tmp_path / "a" / "runs" / "7"
    (local / "checkpoints").mkdir(parents=True)
    (local / "checkpoints" / "step_00000010.pt").write_bytes(b"ten")
    (local / "checkpoints" / "step_00000020.tmp").write_bytes(b"half")
    m = RunMirror(f"file://{store}", local, 7)
    assert m.push() == 1 and m.push() == 0
    assert (store / "runs" / "7" / "checkpoints" / "step_00000010.pt").read_bytes() == b"ten"
    assert not (store / "runs" / "7" / "checkpoints" / "step_00000020.tmp").exists()
    (local / "metrics.jsonl").write_text("{}\n")
    assert m.push() == 1


def test_another_machine_pulls_the_folder_and_resumes_where_it_was(tmp_path):
    store = tmp_path / "store"
    first = tmp_path / "m1" / "runs" / "3"
    (first / "checkpoints").mkdir(parents=True)
    (first / "checkpoints" / "step_00000040.pt").write_bytes(b"forty")
    with RunMirror(f"file://{store}", first, 3, every_s=0.05):
        pass  # the final push on exit
    second = tmp_path / "m2" / "runs" / "3"
    with RunMirror(f"file://{store}", second, 3) as m:
        assert (second / "checkpoints" / "step_00000040.pt").read_bytes() == b"forty"
        assert m.push() == 0  # what was pulled is not sent back
        (second / "checkpoints" / "step_00000080.pt").write_bytes(b"eighty")
    assert (store / "runs" / "3" / "checkpoints" / "step_00000080.pt").read_bytes() == b"eighty"
    assert RunMirror(f"file://{store}", tmp_path / "m3", 99).pull() == 0  # nothing stored yet


def test_local_copy_fetches_only_the_file_asked_for(tmp_path):
    store = tmp_path / "store"
    worker = tmp_path / "worker-artifacts" / "runs" / "5"
    (worker / "probes").mkdir(parents=True)
    (worker / "probes" / "hessian.json").write_text('{"top": [1.0]}')
    (worker / "checkpoints").mkdir()
    (worker / "checkpoints" / "step_00000001.pt").write_bytes(b"big")
    RunMirror(f"file://{store}", worker, 5).push()
    api = SimpleNamespace(artifact_store=f"file://{store}", artifacts=tmp_path / "api-artifacts",
                          artifact_sync_s=5.0)
    path = local_copy(api, 5, worker / "probes" / "hessian.json")
    assert path == tmp_path / "api-artifacts" / "runs" / "5" / "probes" / "hessian.json"
    assert path.read_text() == '{"top": [1.0]}'
    assert not (tmp_path / "api-artifacts" / "runs" / "5" / "checkpoints").exists()
    plain = SimpleNamespace(artifact_store=None, artifacts=tmp_path)
    assert local_copy(plain, 5, "/x/runs/5/a.json").as_posix() == "/x/runs/5/a.json"
    assert mirror(plain, tmp_path, 5) is None


def test_an_attempt_the_store_holds_no_point_of_is_forgotten_in_the_mirror_too(tmp_path):
    """A run re-run from scratch (`--overwrite`) on another machine must not pull the old
    attempt's checkpoints back from the object store and resume from them."""
    from worker.resume import forget_unstored_attempt

    store = tmp_path / "store"
    first = tmp_path / "m1" / "runs" / "5"
    (first / "checkpoints").mkdir(parents=True)
    (first / "checkpoints" / "step_00000040.pt").write_bytes(b"old attempt")
    with RunMirror(f"file://{store}", first, 5, every_s=0.05):
        pass
    second = tmp_path / "m2" / "runs" / "5"
    with RunMirror(f"file://{store}", second, 5) as m:
        assert (second / "checkpoints" / "step_00000040.pt").exists()  # pulled, as before
        forget_unstored_attempt(second, -1, m)
        assert not any(second.iterdir())
    assert RunMirror(f"file://{store}", tmp_path / "m3" / "runs" / "5", 5).pull() == 0


def test_a_stored_attempt_keeps_its_mirror(tmp_path):
    from worker.resume import forget_unstored_attempt

    store, local = tmp_path / "store", tmp_path / "m1" / "runs" / "6"
    local.mkdir(parents=True)
    (local / "metrics.jsonl").write_text("{}\n")
    with RunMirror(f"file://{store}", local, 6) as m:
        forget_unstored_attempt(local, 12, m)
    assert (store / "runs" / "6" / "metrics.jsonl").exists()
