"""A run as a command line and a submit form, its pictures and its error, on hand-made runs."""
from __future__ import annotations

import shlex

import yaml

from dashboard import rerun

RUN = {"id": 12, "config": {"name": "q", "model": {"width": 16}, "training": {"lr": 0.01}},
       "overrides": {"model.width": 16, "training.lr": 0.01, "flossing.enabled": True,
                     "model.blocks": [1, 2], "data.root": None}}


def test_cli_fetches_the_config_and_repeats_the_overrides():
    first, second = rerun.cli_command(RUN, "http://dash/files/runs/12/config.yaml").splitlines()
    assert first == "curl -so run-12.yaml http://dash/files/runs/12/config.yaml"
    assert shlex.split(second) == ["liplab", "submit", "run-12.yaml", "model.width=16", "training.lr=0.01",
                                   "flossing.enabled=true", "data.root=null"]  # the list is in the YAML
    assert yaml.safe_load(rerun.config_yaml(RUN)) == RUN["config"]
    assert rerun.override_lines({"id": 1, "config": {}}) == []


def test_pictures_are_told_by_kind_or_suffix():
    assert rerun.is_image({"name": "curves.PNG", "kind": "file"})
    assert rerun.is_image({"name": "spectrum", "kind": "figure"})
    assert not rerun.is_image({"name": "checkpoint", "kind": "checkpoint"})
    assert not rerun.is_image({"name": "hessian", "kind": "probe"})


def test_the_error_reason_is_the_exception_line_of_a_traceback():
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\n    f()\nValueError: lr must be > 0\n'
    assert rerun.error_parts(tb) == ("ValueError: lr must be > 0", tb)
    assert rerun.error_parts("diverged at step 12: loss is nan\ndetails") == (
        "diverged at step 12: loss is nan", "diverged at step 12: loss is nan\ndetails")
    assert rerun.error_parts(None) is None and rerun.error_parts("") is None
