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
    assert cached["metrics"] == {"test_acc": {"step": [5], "value": [0.8]}}
    assert "probes" not in cached  # a probe job may still add or replace them
    assert not (tmp_path / "data" / "run_3.json").exists()  # still running: never cached
    assert "files written" in capsys.readouterr().out
    calls.clear()
    assert report("7", out=str(tmp_path), client=client(calls)) == 0
    assert "/api/v1/runs/1" not in calls and "/api/v1/runs/3" in calls  # finished runs cached
    assert "/api/v1/runs/1/probes" in calls  # probe results are never taken from the cache


def test_probe_results_posted_later_reach_the_report(tmp_path, monkeypatch):
    calls = []
    assert report("7", out=str(tmp_path), client=client(calls)) == 0
    assert not (tmp_path / "figures" / "run2_hessian.png").exists()
    late = {"items": [{"name": "certified", "result": {"eps": [0.0], "certified_acc": [0.9]}},
                      {"name": "hessian", "result": {"eigenvalues": [4.0, 1.0], "trace": 6.0,
                                                     "trace_stderr": 0.1}}]}
    real = api(calls)

    def later(request):
        if request.url.path == "/api/v1/runs/2/probes":
            return httpx.Response(200, json=late)
        return real(request)

    late_client = httpx.Client(base_url="http://api", transport=httpx.MockTransport(later),
                               headers={"Authorization": "Bearer tok"})
    assert report("7", out=str(tmp_path), client=late_client) == 0
    assert (tmp_path / "figures" / "run2_hessian.png").exists()
    assert "run 2 hessian" in (tmp_path / "summary.md").read_text()


def test_a_retried_run_is_fetched_again(tmp_path):
    """The listing shows run 1 finished at another time (it was retried): not from the cache."""
    calls = []
    assert report("7", out=str(tmp_path), client=client(calls)) == 0
    real = api(calls)

    def retried(request):
        if request.url.path == "/api/v1/runs":
            return httpx.Response(200, json={"items": [{"id": 1, "status": "succeeded",
                                                        "finished_at": "later"}, {"id": 2}, {"id": 3}],
                                             "total": 3})
        return real(request)

    calls.clear()
    again = httpx.Client(base_url="http://api", transport=httpx.MockTransport(retried),
                         headers={"Authorization": "Bearer tok"})
    assert report("7", out=str(tmp_path), client=again) == 0
    assert "/api/v1/runs/1" in calls and "/api/v1/runs/2" not in calls


def test_report_closes_the_client_it_opened(tmp_path, monkeypatch):
    import liplab.report as module

    closed = []

    class Recording(httpx.Client):
        def __init__(self, **kw):
            super().__init__(**kw, transport=httpx.MockTransport(api([])))

        def close(self):
            closed.append(True)
            super().close()

    monkeypatch.setattr(module.httpx, "Client", Recording)
    assert report("7", out=str(tmp_path), api_url="http://api", token="tok") == 0
    assert closed == [True]


def test_unknown_sweep_is_a_clear_error(tmp_path, capsys):
    bad = httpx.Client(base_url="http://api",
                       transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    assert report("99", out=str(tmp_path), client=bad) == 2
    assert "sweep 99: not found" in capsys.readouterr().err


def test_cli_has_the_report_command():
    args = build_parser().parse_args(["report", "12", "--out", "x"])
    assert args.sweep_id == "12" and args.out == "x" and args.fn.__name__ == "cmd_report"
