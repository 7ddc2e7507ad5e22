"""The generative cost benchmark runs with --quick, writes a complete report, and its figures obey
the cost formulas of the overview page (docs/en/generative/index.md#costs)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "generative_costs", REPO / "benchmarks" / "generative_costs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reports(bench, tmp_path_factory):
    """Two quick runs that differ only in the catalogue size: 500 and 1,000 items."""
    folder = tmp_path_factory.mktemp("costs")
    small, large = folder / "small.json", folder / "large.json"
    bench.main(["--quick", "--out", str(small)])
    bench.main(["--quick", "--num-items", "1000", "--out", str(large)])
    return (json.loads(small.read_text(encoding="utf-8")),
            json.loads(large.read_text(encoding="utf-8")), small)  # fmt: skip


def test_quick_run_writes_a_complete_report(reports):
    small, _, path = reports
    assert small["command"] == f"python benchmarks/generative_costs.py --quick --out {path}"
    for key in ("commit", "device", "date", "load_average", "settings", "torch"):
        assert small[key], key
    assert len(small["load_average"]["before"]) == 3
    settings = small["settings"]
    assert settings["quick"] is True and settings["num_items"] == 500 and settings["beam"] == 20
    assert "random valid ids" in settings["semantic_ids"]
    assert set(small["figures"]) == {"sasrec", "hstu", "tiger"}
    for name, figure in small["figures"].items():
        assert figure["num_params"] == figure["vocabulary_params"] + figure["other_params"], name
        assert figure["vocabulary_bytes_fp32"] == 4 * figure["vocabulary_params"], name
        assert figure["train_flops_per_row"] > 0 and figure["inference_flops_per_request"] > 0
        assert 0 < figure["latency_ms_median"] < 10_000, name


def test_vocabulary_sizes_follow_the_formulas(reports):
    small, large, _ = reports
    for name in ("sasrec", "hstu"):  # an (N + 1) x D item table, D = 64 (Beauty settings)
        assert small["figures"][name]["vocabulary_params"] == 501 * 64, name
        assert large["figures"][name]["vocabulary_params"] == 1001 * 64, name
    tiger = small["figures"]["tiger"]
    # tokens: PAD, BOS, 3 levels x 16 codes, 16 collision values; embedded in and projected out
    tokens = 2 + 3 * 16 + 16
    assert tiger["token_vocabulary"] == tokens and tiger["tokens_per_item"] == 4
    assert tiger["vocabulary_params"] == 2 * tokens * tiger["config"]["d_model"]
    # the codebooks do not grow with the catalogue; only the item -> tokens lookup table does
    assert large["figures"]["tiger"]["vocabulary_params"] == tiger["vocabulary_params"]
    assert large["figures"]["tiger"]["other_params"] == tiger["other_params"]
    assert large["figures"]["tiger"]["item_lookup_bytes"] > tiger["item_lookup_bytes"] > 0


def test_flops_grow_with_the_catalogue_only_for_the_catalogue_scorers(reports):
    small, large, _ = reports
    for name in ("sasrec", "hstu"):
        # scoring one user against every item is a (1, D) x (D, N) product: 2 D N FLOPs
        extra = (
            large["figures"][name]["inference_flops_per_request"]
            - small["figures"][name]["inference_flops_per_request"]
        )
        assert extra == 2 * 64 * (1000 - 500), name
        assert (large["figures"][name]["train_flops_per_row"]
                > small["figures"][name]["train_flops_per_row"])  # fmt: skip
        figure = small["figures"][name]
        assert figure["targets_per_row"] == 8  # a target at every position (L = 8 in --quick)
        assert figure["train_flops_per_target"] == figure["train_flops_per_row"] // 8
    # beam search costs the same whatever the number of items: beam x levels decoder passes
    assert (large["figures"]["tiger"]["inference_flops_per_request"]
            == small["figures"]["tiger"]["inference_flops_per_request"])  # fmt: skip
    assert small["figures"]["tiger"]["targets_per_row"] == 1


def test_k_larger_than_the_beam_is_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--quick", "--beam", "5", "--k", "10"])
