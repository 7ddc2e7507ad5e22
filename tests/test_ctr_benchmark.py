"""experiments/ctr_benchmark.py (quick run into a tmp folder, the L2 penalty) and the Frappe task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from script_modules import load_script

from recnotes.results import Result

ROOT = Path(__file__).resolve().parents[1]

bench = load_script("experiments/ctr_benchmark.py")


def test_quick_run_writes_one_results_file_per_model(tmp_path, capsys):
    paths = bench.main(
        [
            "--model",
            "lr",
            "embedding-mlp",
            "--quick",
            "--seeds",
            "0",
            "1",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    assert [p.name for p in paths] == ["lr.json", "embedding-mlp.json"]
    printed = capsys.readouterr().out
    assert printed.count("SUMMARY") == 2
    for path, model in zip(paths, ("lr", "embedding-mlp")):
        result = Result.from_dict(json.loads(path.read_text()))
        assert result.model == model and result.dataset == "synthetic" and result.seeds == [0, 1]
        for key in ("auc", "auc_std", "logloss", "logloss_std"):
            assert key in result.metrics
        per_seed = result.config["per_seed"]
        assert [r["seed"] for r in per_seed] == [0, 1]
        assert result.metrics["auc"] == pytest.approx(sum(r["auc"] for r in per_seed) / 2, abs=1e-5)
        assert result.config["num_params"] > 0 and result.config["epoch_time_s"] > 0
        assert result.config["best_epochs"] == [1, 1]
        assert (
            result.command
            == f"python experiments/ctr_benchmark.py --model {model} --quick --seeds 0 1 "
            f"--quiet --out {tmp_path}"
        )


def test_embedding_penalty_is_half_lambda_times_the_squared_norm_of_every_table():
    from recnotes.registry import get

    model, batch = get("embedding-mlp").tiny()
    tables, others = bench.split_parameters(model)
    assert tables and all(t.dim() == 2 for t in tables)
    assert {id(p) for p in tables}.isdisjoint(id(p) for p in others)
    assert len(tables) + len(others) == len(list(model.parameters()))
    by_hand = 0.5 * 0.1 * sum(float((t.detach() ** 2).sum()) for t in tables)
    assert float(bench.l2_penalty(tables, 0.1).detach()) == pytest.approx(by_hand, rel=1e-6)
    batch = {**batch, "label": torch.ones(next(iter(batch.values())).shape[0])}
    plain = bench.make_loss(model, "label", "bce")(model, batch)
    penalised = bench.make_loss(model, "label", "bce", embedding_l2=0.1)(model, batch)
    assert float(penalised - plain) == pytest.approx(by_hand, rel=1e-5)


def test_loss_adds_the_models_own_regularization():
    from recnotes.registry import get

    model, batch = get("afm").tiny()
    model.config = type(model.config)(**{**vars(model.config), "attention_l2": 0.3})
    batch = {**batch, "label": torch.ones(next(iter(batch.values())).shape[0])}
    model.eval()  # no dropout: both losses see the same outputs
    with_penalty = bench.make_loss(model, "label", "square")(model, batch)
    data_only = torch.nn.functional.mse_loss(model(batch), 2 * batch["label"] - 1)
    by_hand = 0.3 * float((model.attention_in.weight.detach() ** 2).sum())
    assert by_hand > 0
    assert float(with_penalty - data_only) == pytest.approx(by_hand, rel=1e-5)


def test_warm_start_copies_fm_vectors_into_afm_and_names_its_errors(tmp_path):
    from recnotes.registry import get

    fm, _ = get("fm").tiny()
    afm, _ = get("afm").tiny()
    assert afm.config.embed_dim == fm.config.embed_dim
    path = tmp_path / "fm.pt"
    torch.save(fm.state_dict(), path)
    attention_before = afm.attention_in.weight.detach().clone()
    names = bench.warm_start(afm, path)
    assert names and all(n.startswith(("linear.", "vectors.")) for n in names)
    fm_state, afm_state = fm.state_dict(), afm.state_dict()
    for name in names:
        assert torch.equal(afm_state[name], fm_state[name])
    assert any(n.startswith("vectors.") for n in names)
    assert torch.equal(afm.attention_in.weight, attention_before)  # only the FM part moves

    with pytest.raises(SystemExit, match="no saved state"):
        bench.warm_start(afm, tmp_path / "missing.pt")
    torch.save({"other.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(SystemExit, match="has no parameter under"):
        bench.warm_start(afm, tmp_path / "other.pt")
    wrong = {k: torch.zeros(*v.shape[:-1], v.shape[-1] + 1) if v.dim() else v
             for k, v in fm.state_dict().items()}  # fmt: skip
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(SystemExit, match="shapes differ"):
        bench.warm_start(afm, tmp_path / "wrong.pt")


def test_save_states_then_init_from_round_trip(tmp_path, capsys):
    common = ["--quick", "--seeds", "0", "--quiet", "--out", str(tmp_path), "--loss", "square"]
    bench.main(["--model", "fm", *common, "--optimizer", "adagrad", "--lr", "0.01",
                "--save-states", str(tmp_path / "st")])  # fmt: skip
    saved = tmp_path / "st" / "fm-square-seed0.pt"
    assert saved.is_file()
    [path] = bench.main(["--model", "afm", *common, "--variant", "warm",
                         "--init-from", str(tmp_path / "st" / "fm-square-seed{seed}.pt")])  # fmt: skip
    data = json.loads(path.read_text())
    warm = data["config"]["per_seed"][0]["warm_start"]
    assert warm["from"] == str(saved) and warm["tensors"]
    assert "--init-from" in data["command"]
    assert data["config"]["train"]["optimizer"] == "adam"
    assert path.name == "afm-warm.json"


def test_square_loss_targets_are_plus_minus_one_and_rmse_clips():
    out = torch.tensor([2.0, -0.5, 0.0])
    labels = torch.tensor([1, 0, 1])
    m = bench.metrics_of(out, labels, "square")
    # clipped predictions 1, -0.5, 0 against +1, -1, +1: errors 0, 0.5, 1
    assert m["rmse"] == pytest.approx(((0 + 0.25 + 1) / 3) ** 0.5)
    assert m["auc"] == pytest.approx(1.0)


def test_every_settings_row_names_a_registered_model_or_a_coming_one():
    coming = {
        "lr",
        "fm",
        "ffm",
        "nfm",
        "afm",
        "deepfm",
        "wide-deep",
        "deep-crossing",
        "pnn",
        "dcn",
        "dcn-v2",
        "embedding-mlp",
    }
    for table in (bench.FRAPPE, bench.FRAPPE_SQUARE, bench.ML1M):
        assert set(table) <= coming
        for setting in table.values():
            if setting.reference:  # a reference number always says where it comes from
                assert setting.source


def test_frappe_task_trains_and_recommends_app_names(require_data, tmp_path, capsys):
    require_data("frappe/frappe.csv.gz", "frappe/meta.csv.gz", "frappe/nfm/frappe.test.libfm.gz")
    from recnotes.__main__ import main
    from recnotes.tasks import get_task

    out = tmp_path / "run"
    code = main(
        [
            "train",
            "embedding-mlp",
            "--dataset",
            "frappe",
            "--epochs",
            "1",
            "--batch-size",
            "4096",
            "--quiet",
            "--threads",
            "1",
            "--set",
            "embed_dim=4",
            "--set",
            "hidden=[8]",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and "test: auc=" in capsys.readouterr().out
    data = get_task("frappe").build(0)
    assert data.protocol == "frappe-nfm-x1-rebuilt" and len(data.test) == 28_860
    batch, items, titles = data.candidates(0)
    assert len(items) == len(titles) == batch["item_ids"].shape[0] == 4082
    for name in ("user_ids", "daytime", "weekday", "country", "city"):  # one user, one context
        assert batch[name].unique().numel() == 1
    assert "WhatsApp Messenger" in titles
    seen = set(data.seen(0).tolist())
    assert seen and seen <= set(items.tolist())
    assert main(["recommend", "--user", "0", "--checkpoint", str(out), "-k", "5"]) == 0
    shown = [
        ln for ln in capsys.readouterr().out.splitlines() if ln.strip()[:2].rstrip(".").isdigit()
    ]
    assert len(shown) == 5
    assert not any(
        f"item {i} " in ln for ln in shown for i in seen
    )  # seen apps are never recommended
    assert main(["recommend", "--user", "99999", "--checkpoint", str(out)]) == 2


def test_plateau_factor_override_is_used_recorded_and_checked(tmp_path, capsys):
    common = ["--quick", "--seeds", "0", "--quiet", "--out", str(tmp_path), "--epochs", "2"]
    # lr 1e-12: the scores barely move, so epoch 2 does not beat epoch 1 and cuts the rate (a
    # cut never goes below 1e-6, FuxiCTR's floor, so a third epoch would train at 1e-6)
    [path] = bench.main(["--model", "fm", *common, "--patience", "10", "--lr", "1e-12",
                         "--plateau-factor", "0.5", "--variant", "cut"])  # fmt: skip
    data = json.loads(path.read_text())
    assert data["config"]["plateau_lr_factor"] == 0.5
    assert "plateau overridden: 0.5" in data["notes"]
    seed = data["config"]["per_seed"][0]
    assert seed["epochs_run"] == 2 and seed["lr_cut_epochs"] == [2]
    [path] = bench.main(["--model", "fm", *common, "--patience", "10", "--lr", "1e-12",
                         "--plateau-factor", "1", "--variant", "nocut"])  # fmt: skip
    data = json.loads(path.read_text())
    assert data["config"]["per_seed"][0]["lr_cut_epochs"] == []  # 1: never cut
    for bad in ("0", "1.5"):
        with pytest.raises(SystemExit):
            bench.parse_args(["--model", "fm", "--plateau-factor", bad])
    assert "--plateau-factor must be in (0, 1]" in capsys.readouterr().err


def test_embedding_l2_override_reaches_the_loss_and_the_record(tmp_path, capsys, monkeypatch):
    seen = []
    real = bench.make_loss

    def spy(model, label, loss, embedding_l2=0.0, net_l2=0.0):
        seen.append(embedding_l2)
        return real(model, label, loss, embedding_l2, net_l2)

    monkeypatch.setattr(bench, "make_loss", spy)
    common = ["--quick", "--seeds", "0", "--quiet", "--out", str(tmp_path), "--epochs", "1"]
    [path] = bench.main(["--model", "fm", *common, "--embedding-l2", "0.25", "--variant", "l2"])
    assert seen == [0.25]  # the loss the run trained on
    data = json.loads(path.read_text())
    assert data["config"]["embedding_l2"] == 0.25
    assert "Embedding L2 overridden: 0.25 (settings row: 5e-06)" in data["notes"]
    bench.main(["--model", "fm", *common, "--variant", "default"])
    assert seen[-1] == 5e-6  # without the flag: FM's settings row
    with pytest.raises(SystemExit):
        bench.parse_args(["--model", "fm", "--embedding-l2", "-1"])
    assert "--embedding-l2 must be >= 0" in capsys.readouterr().err


def test_instance_cut_protocol_is_frappe_with_its_own_task_and_file_suffix():
    from recnotes.tasks import TASKS

    frappe, cut = bench.PROTOCOLS["frappe"], bench.PROTOCOLS["frappe-instance-cut"]
    assert cut.task == "frappe-instance-cut" and cut.task in TASKS
    assert cut.results_dir == frappe.results_dir == "frappe"
    same = ("embed_dim", "batch_size", "lr", "epochs", "patience", "plateau_factor", "monitor",
            "grad_clip", "settings")
    assert all(getattr(cut, k) == getattr(frappe, k) for k in same)
    stem = lambda *argv: bench._stem("fm", bench.parse_args(["--model", "fm", *argv]))  # noqa: E731
    assert stem() == "fm" and stem("--loss", "square") == "fm-square"
    assert stem("--dataset", "frappe-instance-cut") == "fm-instance-cut"  # never overwrites fm.json
    assert stem("--dataset", "frappe-instance-cut", "--loss", "square") == "fm-instance-cut-square"
    assert stem("--dataset", "frappe-instance-cut", "--variant", "x") == "fm-x"


def test_instance_cut_task_builds_the_split_with_the_original_counts(require_data):
    from recnotes.tasks import get_task

    require_data("frappe/frappe.csv.gz", "frappe/meta.csv.gz", "frappe/nfm/frappe.test.libfm.gz",
                 "frappe/nfm/frappe.validation.libfm.gz")
    data = get_task("frappe-instance-cut").build(0)
    assert data.protocol == "frappe-nfm-x1-rebuilt-instance-cut"
    assert len(data.train) == 202_027 and int(data.train.columns["label"].sum()) == 67_604
    assert (len(data.valid), len(data.test)) == (57_722, 28_860)
