"""Markdown reports: grouped statistics checked by hand, every probe figure drawn, idempotence."""
import pytest

from lipcore.probes import PROBES, run_probe
from lipcore.report import write_report
from lipcore.report_plots import PROBE_FIGURES
from tests.lipcore.probes.helpers import blobs, context, mlp, train


@pytest.fixture(scope="module")
def probe_results():
    data = blobs(n=32, seed=0)
    model = mlp([2, 6, 2], seed=0)
    peer = mlp([2, 6, 2], seed=1)
    ckpts = train(model, data, steps=30, checkpoint_every=10)
    train(peer, data, steps=30)
    metrics = {"lyapunov/0": {"step": [1, 2], "value": [0.1, 0.0]}}
    ctx = context(model, data, checkpoints=ckpts, peers=[peer], metrics=metrics)
    small = {"hessian": dict(k=2, trace_samples=3, density_vectors=1, lanczos_steps=5),
             "slice_2d": dict(n_points=4), "slice_1d": dict(n_points=5),
             "pca": dict(n_points=4), "sharpness": dict(n_samples=3, ascent_steps=2),
             "connectivity": dict(n_points=5, bezier_steps=5, bezier_points=5),
             "measurement": dict(n_steps=3, batch_size=16), "certified": dict(n_pairs=10),
             "interpolation": dict(n_points=5), "lyapunov": {}}
    return {name: run_probe(name, ctx, **small[name]) for name in PROBES.names()}


SOME = ("connectivity", "hessian")  # every figure is drawn once above; keep the report quick


def make_runs(probe_results):
    runs = []
    accs = {1: [0.8, 0.9], 2: [0.6, 0.7, 0.95]}
    rid = 0
    for depth, values in accs.items():
        for seed, acc in enumerate(values):
            rid += 1
            runs.append({
                "id": rid, "status": "succeeded",
                "config": {"model": {"depth": depth, "width": 8, "model_seed": seed},
                           "training": {"optimizer": "adam"}},
                "metrics": {"test_acc": {"step": [10, 20], "value": [0.5, acc]},
                            "train_loss": {"step": [10, 20], "value": [1.0, 0.5 / depth]}},
                "probes": {k: probe_results[k] for k in SOME} if rid == 1 else {},
            })
    return runs


def test_every_probe_has_a_figure_that_draws(probe_results, tmp_path):
    assert PROBE_FIGURES.names() == PROBES.names()
    for name, result in probe_results.items():
        path = PROBE_FIGURES[name](result, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_the_dashboard_draws_every_landscape_probe_result(probe_results):
    # The dashboard reads these shapes over REST; each of its figures must hold data.
    from dashboard.figures.landscape import LANDSCAPE_FIGURES, landscape_figures

    figures = landscape_figures(probe_results)
    assert {name for name, _ in figures} == set(LANDSCAPE_FIGURES)
    for name, fig in figures:
        assert fig.data, f"dashboard figure for {name} is empty: {fig.layout.annotations}"
    conn = probe_results["connectivity"]
    assert not {"alpha", "linear_loss", "aligned_loss", "barriers"} & set(conn)  # paths only
    sharp = probe_results["sharpness"]
    assert not {"samples", "sharpness", "ascent"} & set(sharp)  # no flat copies beside the rows


def test_report_tables_group_with_mean_std_and_n(probe_results, tmp_path):
    out = write_report(make_runs(probe_results), tmp_path, title="demo")
    depth = (tmp_path / "depth_study.md").read_text()
    # depth 1: mean(0.8, 0.9) = 0.85, std 0.0707; depth 2: mean 0.75, std(0.6, 0.7, 0.95) = 0.18
    assert "| 1 | 2 | 0.85 ± 0.071 (N=2)" in depth
    assert "| 2 | 3 | 0.75 ± 0.18 (N=3)" in depth
    assert "![test_acc by model.depth](figures/depth_study_test_acc.png)" in depth
    width = (tmp_path / "width_study.md").read_text()
    assert "does not vary" in width
    summary = (tmp_path / "summary.md").read_text()
    assert "5 runs: 5 succeeded" in summary and "Best run by test_acc: **5** (0.95)" in summary
    assert "`model.depth`, `model.model_seed`" in summary
    conn = (tmp_path / "connectivity_study.md").read_text()
    assert "vs_mean" in conn and "Frankle" in conn and "Entezari" in conn
    for stem in ("summary", "depth_study", "width_study", "activation_study", "optimizer_study",
                 "connectivity_study"):
        assert (tmp_path / f"{stem}.md").exists()
    for name in SOME:
        assert (tmp_path / "figures" / f"run1_{name}.png").exists(), name
    assert out["written"] and not out["kept"]


def test_report_is_idempotent_and_resumes(probe_results, tmp_path):
    runs = make_runs(probe_results)
    write_report(runs, tmp_path)
    again = write_report(runs, tmp_path)
    assert again["written"] == []
    (tmp_path / "figures" / "run1_hessian.png").unlink()  # as if interrupted before this figure
    (tmp_path / "optimizer_study.md").unlink()
    third = write_report(runs, tmp_path)
    assert sorted(third["written"]) == sorted([str(tmp_path / "figures" / "run1_hessian.png"),
                                               str(tmp_path / "optimizer_study.md")])


def test_report_redraws_figures_whose_inputs_changed(probe_results, tmp_path):
    """A re-run after a run's results changed redraws exactly the figures that show them."""
    import copy

    runs = make_runs(probe_results)
    write_report(runs, tmp_path)
    figures = tmp_path / "figures"
    before = {p.name: p.read_bytes() for p in figures.glob("*.png")}
    runs = copy.deepcopy(runs)
    runs[0]["metrics"]["test_acc"]["value"][-1] = 0.1  # depth 1's mean accuracy drops
    runs[0]["probes"]["hessian"]["eigenvalues"] = [v * 10 for v in
                                                   runs[0]["probes"]["hessian"]["eigenvalues"]]
    out = write_report(runs, tmp_path)
    redrawn = {p.rpartition("/")[2] for p in out["written"] if p.endswith(".png")}
    # every study's accuracy bars hold run 1 (a one-group study too); train-loss curves do not
    assert redrawn == {f"{k}_study_test_acc.png" for k in ("depth", "width", "activation",
                                                            "optimizer")} | {"run1_hessian.png"}
    for name in redrawn:
        assert (figures / name).read_bytes() != before[name]
    assert write_report(runs, tmp_path)["written"] == []


def test_empty_sweep_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no runs"):
        write_report([], tmp_path)


def test_summary_correlates_geometry_with_the_generalisation_gap(tmp_path):
    import numpy as np

    sharp = [0.1, 0.4, 0.2, 0.9]
    gap = [0.05, 0.3, 0.1, 0.2]
    runs = [{"id": i, "status": "succeeded", "config": {"model": {"model_seed": i}},
             "metrics": {"train_loss": {"step": [1], "value": [0.1]},
                         "test_loss": {"step": [1], "value": [0.1 + g]}},
             "probes": {"sharpness": {"ascent_max": [s], "random_max": [0.0]}}}
            for i, (s, g) in enumerate(zip(sharp, gap))]
    write_report(runs, tmp_path)
    summary = (tmp_path / "summary.md").read_text()
    r = np.corrcoef(sharp, gap)[0, 1]  # Spearman: ranks [1,3,2,4] vs [1,4,2,3]: 1 − 6·2/60 = 0.8
    assert f"| sharpness | 4 | {r:.3f} | 0.800 |" in summary
    assert "- run 0 sharpness: no figure (KeyError" in summary  # a partial result is reported


def test_a_sweep_without_probes_says_so_under_its_landscape_heading(tmp_path):
    runs = [{"id": 1, "status": "succeeded", "config": {"model": {"model_seed": 0}},
             "metrics": {"train_loss": {"step": [1], "value": [0.1]}}}]
    write_report(runs, tmp_path)
    landscape = (tmp_path / "summary.md").read_text().split("## Landscape figures\n", 1)[1]
    assert "No run of this sweep ran a probe" in landscape and "docs/probes.md" in landscape
