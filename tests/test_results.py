"""Results files: the commit field says when the code behind a number was not committed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from recnotes.results import git_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_commit_marks_uncommitted_code_as_dirty(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "recnotes").mkdir(parents=True)
    (repo / "recnotes" / "m.py").write_text("x = 1\n")
    (repo / "notes.md").write_text("text\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    monkeypatch.chdir(repo)
    clean = git_commit()
    assert clean and not clean.endswith("-dirty")
    (repo / "notes.md").write_text("a page edit does not change a number\n")
    assert git_commit() == clean
    (repo / "recnotes" / "m.py").write_text("x = 2\n")
    assert git_commit() == f"{clean}-dirty"


def test_git_commit_outside_a_checkout_is_unknown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_commit() == "unknown"


def test_render_table_shows_a_spread_only_over_several_seeds():
    from recnotes.results import Result, render_table

    def result(seeds):
        return Result(model="m", dataset="d", protocol="p", metrics={"auc": 0.9, "auc_std": 0.0},
                      command="x", commit="0", device="cpu", wall_time_s=1.0, seeds=seeds)  # fmt: skip

    one = render_table([result([0])], ["auc"])
    three = render_table([result([0, 1, 2])], ["auc"])
    assert "| 0.9000 |" in one and "±" not in one
    assert "0.9000 ± 0.0000" in three


def test_ensure_venv_reuses_a_venv_with_the_pins_and_builds_one_without(tmp_path, monkeypatch):
    import subprocess

    from recnotes.results import ensure_venv

    calls, probe_ok = [], []

    def fake_run(command, **kwargs):
        calls.append([str(c) for c in command])
        code = 0 if (command[1] != "-c" or probe_ok) else 1
        return subprocess.CompletedProcess(command, code)

    monkeypatch.setattr(subprocess, "run", fake_run)
    venv = tmp_path / "peers"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    pins = ["torch==2.13.0", "fuxictr==2.3.10"]
    assert ensure_venv(venv, pins) == venv / "bin" / "python"  # the probe fails: build it
    assert "'torch': '2.13.0'" in calls[0][2] and "'fuxictr': '2.3.10'" in calls[0][2]
    assert calls[1][1:] == ["-m", "venv", str(venv)]
    assert calls[2] == [str(venv / "bin" / "python"), "-m", "pip", "install", *pins]
    calls.clear()
    probe_ok.append(True)
    assert ensure_venv(venv, pins) == venv / "bin" / "python"  # every pin there: no install
    assert len(calls) == 1 and calls[0][1] == "-c"
