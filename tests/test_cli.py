"""The command line: list, datasets, train -> evaluate -> recommend, and its error messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import toy_models  # noqa: F401  (registers toy-ranker in this process)

from recnotes.__main__ import main
from recnotes.results import Result


def test_help_explains_the_commands():
    out = subprocess.run([sys.executable, "-m", "recnotes", "--help"], capture_output=True, text=True, check=True)
    for command in ("list", "train", "evaluate", "recommend", "datasets"):
        assert command in out.stdout


def test_list_shows_every_stage(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for stage in ("recall", "prerank", "ranking", "rerank", "multitask", "meta", "generative"):
        assert stage in out
    assert "toy-ranker" in out


def test_list_rejects_an_unknown_stage(capsys):
    assert main(["list", "--stage", "ranker"]) == 2
    assert "unknown stage" in capsys.readouterr().err


def test_unknown_model_suggests_a_close_name(capsys, tmp_path):
    assert main(["train", "toy-rankr", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'toy-rankr'" in err and "Did you mean: toy-ranker" in err


def test_unknown_dataset_and_config_field_are_named(capsys, tmp_path):
    assert main(["train", "toy-ranker", "--dataset", "netflix", "--out", str(tmp_path)]) == 2
    assert "unknown dataset task 'netflix'" in capsys.readouterr().err
    assert main(["train", "toy-ranker", "--set", "layers=3", "--out", str(tmp_path)]) == 2
    assert "no config field(s) ['layers']" in capsys.readouterr().err


def test_train_evaluate_recommend_round_trip(capsys, tmp_path):
    out, results = tmp_path / "run", tmp_path / "toy.json"
    code = main(["train", "toy-ranker", "--epochs", "2", "--quiet", "--threads", "1", "--set", "embed_dim=8",
                 "--out", str(out), "--results", str(results)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "test: auc=" in printed
    result = Result.from_dict(json.loads(results.read_text()))
    assert result.protocol == "ctr-random-80-10-10" and result.config["model"]["embed_dim"] == 8
    assert "--set embed_dim=8" in result.command
    assert 0.5 < result.metrics["auc"] <= 1.0

    assert main(["evaluate", str(out)]) == 0
    evaluated = capsys.readouterr().out
    assert f"auc={result.metrics['auc']:.4f}" in evaluated  # same checkpoint, same test metrics

    assert main(["recommend", "--user", "7", "--checkpoint", str(out), "-k", "5"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()[:2].rstrip(".").isdigit()]
    assert len(lines) == 5

    assert main(["recommend", "--user", "999999", "--checkpoint", str(out)]) == 2
    assert "unknown user 999999" in capsys.readouterr().err


def test_evaluate_needs_a_checkpoint_folder(capsys, tmp_path):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a checkpoint folder" in capsys.readouterr().err


@pytest.mark.realdata
def test_missing_dataset_says_where_to_put_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RECNOTES_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr("recnotes.data.paths._open_url", _offline)
    assert main(["train", "toy-ranker", "--dataset", "ml-1m-ctr", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty") in err


def _offline(*args, **kwargs):
    raise OSError("network unreachable (test)")
