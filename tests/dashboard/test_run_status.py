"""The run page's status line names the pack a run trained in."""
from dashboard.pages.run import status_line


def test_status_line_says_which_pack_a_run_trained_in():
    line = status_line({"status": "succeeded", "sweep_id": 3, "pack_id": 12})
    assert line == "status: succeeded · sweep 3 · trained in pack 12"
    assert "pack" not in status_line({"status": "queued", "sweep_id": 3, "pack_id": None})
