"""`liplab report SWEEP_ID` over REST (a mock transport playing the API), resumable via cache."""
import json

import httpx

from liplab.cli import build_parser
from liplab.report import report

RUNS = {
    1: {"depth": 1, "acc": 0.8, "status": "succeeded"},
    2: {"depth": 2, "acc": 0.9, "status": "succeeded"},
    3: {"depth": 2, "acc": 0.7, "status": "running"},
}


def api(calls):
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        path = request.url.path.removeprefix("/api/v1")
        if request.headers.get("authorization") != "Bearer tok":
            return httpx.Response(401)
        if path == "/sweeps/7":
            return httpx.Response(200, json={"id": 7, "name": "depths", "n_runs": 3})
        if path == "/runs":
            assert request.url.params["sweep_id"] == "7"
            off, lim = int(request.url.params["offset"]), int(request.url.params["limit"])
            ids = sorted(RUNS)[off:off + lim]
            return httpx.Response(200, json={"items": [{"id": i} for i in ids], "total": 3})
        parts = path.split("/")
        rid = int(parts[2])
        r = RUNS[rid]
        if len(parts) == 3:
            return httpx.Response(200, json={
                "id": rid, "name": f"r{rid}", "status": r["status"], "sweep_id": 7,
                "config": {"model": {"depth": r["depth"], "model_seed": rid}}})
        if parts[3] == "metrics":
            return httpx.Response(200, json={"test_acc": {"step": [5], "value": [r["acc"]]}})
        if parts[3] == "probes":
            if rid == 1:  # the server's shape: jobs plus results by probe name
                return httpx.Response(200, json={"jobs": [], "results": {
                    "certified": {"eps": [0.0, 0.5], "certified_acc": [0.8, 0.3]},
                    "hessian": {"error": "result unreadable: OSError"}}})
            if rid == 2:
                return httpx.Response(200, json={"items": [{"name": "certified", "result": {
                    "eps": [0.0], "certified_acc": [0.9]}}]})
            return httpx.Response(404)
        return httpx.Response(404)
    return handler


def client(calls):
    return httpx.Client(base_url="http://api", transport=httpx.MockTransport(api(calls)),
                        headers={"Authorization": "Bearer tok"})


def test_report_fetches_sweep_and_writes_studies(tmp_path, capsys):
    calls = []
    assert report("7", out=str(tmp_path), client=client(calls)) == 0
    depth = (tmp_path / "depth_study.md").read_text()
    assert "| 2 | 2 | 0.8 ± 0.14 (N=2)" in depth
    assert "Sweep depths" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "figures" / "run1_certified.png").exists()
    cached = json.loads((tmp_path / "data" / "run_1.json").read_text())
    assert cached["probes"] == {"certified": {"eps": [0.0, 0.5], "certified_acc": [0.8, 0.3]}}
    assert json.loads((tmp_path / "data" / "run_2.json").read_text())["probes"]["certified"]
    assert not (tmp_path / "data" / "run_3.json").exists()  # still running: never cached
    assert "files written" in capsys.readouterr().out
    calls.clear()
    assert report("7", out=str(tmp_path), client=client(calls)) == 0
    assert "/api/v1/runs/1" not in calls and "/api/v1/runs/3" in calls  # finished runs cached


def test_unknown_sweep_is_a_clear_error(tmp_path, capsys):
    bad = httpx.Client(base_url="http://api",
                       transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    assert report("99", out=str(tmp_path), client=bad) == 2
    assert "sweep 99: not found" in capsys.readouterr().err


def test_cli_has_the_report_command():
    args = build_parser().parse_args(["report", "12", "--out", "x"])
    assert args.sweep_id == "12" and args.out == "x" and args.fn.__name__ == "cmd_report"
