"""How the command line reads what is typed: run/sweep references, overrides after options."""
from __future__ import annotations

import pytest

from liplab.cli import parse, with_file
from liplab.refs import Ref, parse_ref


@pytest.mark.parametrize("text, ref", [("12", Ref("run", 12)), ("run:12", Ref("run", 12)),
                                       ("sweep:3", Ref("sweep", 3)), (7, Ref("run", 7))])
def test_references(text, ref):
    assert parse_ref(text) == ref and str(ref) == f"{ref.kind}:{ref.id}"


@pytest.mark.parametrize("text", ["sweep3", "job:1", "run:", "sweep:-1", "", "1.5"])
def test_bad_references_say_how_to_write_one(text):
    with pytest.raises(ValueError, match="sweep:3 for a sweep"):
        parse_ref(text)


def test_overrides_may_follow_options_and_files_come_first():
    args = parse(["submit", "c.yaml", "training.lr=0.1", "--wait", "--overrides-file", "a.yaml",
                  "+probes=hessian", "--name", "x", "model.width=8"])
    assert args.overrides == ["training.lr=0.1", "+probes=hessian", "model.width=8"]
    assert with_file(args) == ["@a.yaml", "training.lr=0.1", "+probes=hessian", "model.width=8"]
    assert args.wait and args.name == "x"


def test_unknown_options_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        parse(["status", "--bogus"])
    assert e.value.code == 2 and "--bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["status", "sweep:1", "extra=1"])  # status takes no overrides


def test_help_texts_speak_to_users(capsys):
    with pytest.raises(SystemExit):
        parse(["--help"])
    text = capsys.readouterr().out
    assert "CONTRACT" not in text and "§" not in text
    for verb in ("status", "logs", "cancel", "retry", "export", "open"):
        assert f"    {verb}" in text


@pytest.mark.parametrize("argv", [["run", "c.yaml"], ["export", "sweep:1"], ["report", "sweep:1"],
                                  ["study", "s.yaml"], ["schema"]])
def test_every_out_option_has_the_short_form(argv):
    assert parse(argv + ["-o", "somewhere"]).out == parse(argv + ["--out", "somewhere"]).out == "somewhere"
