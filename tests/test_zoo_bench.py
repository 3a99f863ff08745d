"""The zoo accuracy benchmark's fairness rules (issue #24): parameter and state counts against
closed forms, budgets met within 10% or refused before training, and a cell end to end."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.zoo_bench import ZOO, BudgetError, build_model, fit_budget, n_params, state_size

KEY = jax.random.PRNGKey(0)


def _build(d_in=16, d_out=16, depth=2):
    def build(*, layer, d_model, state):
        return build_model(layer, d_in, d_model, d_out, depth, state=state, key=KEY)

    return build


def _shape(layer, d_model, state=None, depth=2):
    """The model's structure without its arrays (real builds dispatch many small ops)."""
    return eqx.filter_eval_shape(
        lambda: build_model(layer, 16, d_model, 16, depth, state=state, key=KEY)
    )


class _Two(eqx.Module):
    w: jax.Array
    z: jax.Array
    n: int = eqx.field(static=True)


def test_n_params_counts_real_numbers_and_only_arrays():
    m = _Two(jnp.ones((3, 4)), jnp.ones((5,), jnp.complex64), 7)
    assert n_params(m) == 12 + 2 * 5
    lin = eqx.nn.Linear(3, 4, key=KEY)
    assert n_params(lin) == 3 * 4 + 4
    real = build_model("s4d", 16, 8, 16, 2, key=KEY)  # a real model and its shape agree
    assert (
        n_params(real)
        == n_params(_shape("s4d", 8))
        == sum(
            int(np.prod(a.shape)) * (2 if jnp.iscomplexobj(a) else 1)
            for a in jax.tree_util.tree_leaves(real)
            if eqx.is_inexact_array(a)
        )
    )


@pytest.mark.parametrize(
    "layer, kw, per_block",
    [
        ("s4d", {"state": 16}, 8 * 16),  # 8 complex modes per channel, 2 reals each
        ("s4d-real", {"state": 16}, 8 * 16),
        ("s4", {"state": 16}, 8 * 16),
        ("lru", {"state": 16}, 2 * 16),
        ("mamba", {"state": 16}, 2 * 8 * 16),  # d_inner = 2 d_model
        ("mamba-complex", {"state": 16}, 2 * 2 * 8 * 16),
        ("lcde", {"state": 24}, 24),
    ],
)
def test_state_size_matches_the_closed_form(layer, kw, per_block):
    assert state_size(_shape(layer, 8, kw["state"])) == 2 * per_block


@pytest.mark.parametrize("budget", ["iso-param", "iso-state"])
def test_every_zoo_layer_meets_the_budget_within_ten_percent(budget):
    build = _build()
    for layer in ZOO:
        if layer == "ssm2d" and budget == "iso-state":
            # 16 variates x 2 directions x 2 heads x (h1, h2) x 32 channels x 1 mode x complex
            # = 16384 > 4096 + 10% at its smallest: refused by name
            with pytest.raises(BudgetError, match="ssm2d cannot meet the iso-state budget"):
                fit_budget(budget, build, layer, "s4d", 32)
            continue
        fit = fit_budget(budget, build, layer, "s4d", 32)
        built = _shape(layer, fit["d_model"], fit["state"])
        assert fit["n_params"] == n_params(built) and fit["state_size"] == state_size(built)
        ref = fit["ref_n_params"] if budget == "iso-param" else fit["ref_state_size"]
        got = fit["n_params"] if budget == "iso-param" else fit["state_size"]
        assert abs(got - ref) / ref <= 0.10 and fit["budget_gap"] == pytest.approx(
            abs(got - ref) / ref
        )


def test_a_layer_outside_the_budget_is_refused_by_name():
    # a dense LinearCDE (hidden 16: 16 x 16 per gate) cannot shrink to a width-2 S4D's count
    with pytest.raises(BudgetError, match=r"lcde-dense cannot meet the iso-param budget.*10%"):
        fit_budget("iso-param", _build(), "lcde-dense", "s4d", 2)
    with pytest.raises(ValueError, match="budget must be"):
        fit_budget("iso-flops", _build(), "s4d", "s4d", 8)
    with pytest.raises(ValueError, match="unknown layer"):
        build_model("s5", 4, 8, 4, 1, key=KEY)


def test_the_stack_is_the_same_block_for_every_layer():
    for layer in ("s4d", "mamba", "lcde"):
        m = _shape(layer, 8)
        assert len(m.blocks) == 2 and all(type(b.mlp).__name__ == "_GLU" for b in m.blocks)
    np.testing.assert_equal(len(ZOO), 9)


def test_a_cell_selects_on_validation_and_records_a_refused_budget(tmp_path):
    """Through a suite: a tiny MQAR cell and a digits cell train every (lr, wd) setting and keep
    the best by validation accuracy (ties to the first); a layer outside the budget is recorded
    as an error naming the budget, and the suite goes on."""
    import ssmbench

    tiny = {"width": 8, "depth": 1, "steps": 4, "batch": 8, "lrs": [1e-3, 3e-3],
            "weight_decays": [0.0, 0.1], "n_val": 16, "n_test": 16}  # fmt: skip
    suite = {
        "suite": {"name": "zoo-tiny", "seeds": [0]},
        "experiment": [
            {"name": "mqar", "run": "experiments.zoo_bench:zoo_benchmark",
             "params": {**tiny, "task": "mqar", "layer": "mamba",
                        "task_params": {"seq_len": 32, "num_kv_pairs": 4, "num_queries": 4}},
             "columns": ["difficulty", "lr", "wd"]},
            {"name": "digits", "run": "experiments.zoo_bench:zoo_benchmark",
             "params": {**tiny, "task": "digits", "lrs": [3e-3], "weight_decays": [0.0],
                        "width": 2},  # lcde-dense cannot come within 10% of a width-2 S4D
             "grid": {"layer": ["s4d", "lcde-dense"]}, "columns": ["difficulty", "lr", "wd"]},
        ],
    }  # fmt: skip
    res = ssmbench.run_suite(suite, tmp_path / "run", progress=None)
    t = res.table
    status = t.drop_duplicates("cell_id").set_index(["experiment", "layer"])["status"]
    assert status[("mqar", "mamba")] == "ok" and status[("digits", "s4d")] == "ok"
    err = t[(t.experiment == "digits") & (t.layer == "lcde-dense")]["status_detail"].iloc[0]
    assert status[("digits", "lcde-dense")] == "error" and "iso-param budget" in err
    m = t[t.experiment == "mqar"].set_index("metric")
    hp = t[(t.experiment == "mqar") & (t.metric == "val_acc_hp")]
    assert len(hp) == 4 and m.loc["val_acc", "value"] == hp["value"].max()
    first_best = hp[hp["value"] == hp["value"].max()].iloc[0]
    assert m.loc["selected_lr", "value"] == first_best["lr"]
    assert m.loc["selected_wd", "value"] == first_best["wd"]
    assert 0.0 <= m.loc["test_acc", "value"] <= 1.0 and m.loc["steps", "value"] == 4


def test_a_task_parameter_out_of_range_fails_before_any_training():
    from experiments.zoo_bench import zoo_benchmark

    with pytest.raises(ValueError, match="num_kv_pairs"):
        zoo_benchmark(seed=0, task="mqar", task_params={"seq_len": 16, "num_kv_pairs": 40})
    with pytest.raises(ValueError, match="unknown task"):
        zoo_benchmark(seed=0, task="sMNIST")
    # the 2-D layer reads a (time, variates) grid: multivariate real data only
    for task in ("selective_copying", "ItalyPowerDemand"):
        with pytest.raises(ValueError, match=r"'ssm2d' reads a multivariate series"):
            zoo_benchmark(seed=0, task=task, layer="ssm2d")


def _table():
    import pandas as pd

    rows = []
    accs = {("A", "l1"): [0.8, 0.6], ("A", "l2"): [0.4, 0.4], ("B", "l1"): [0.2, 0.2],
            ("B", "l2"): [0.5, 0.3], ("C", "l1"): [0.9, 0.9]}  # fmt: skip
    for (task, layer), vals in accs.items():
        for seed, v in enumerate(vals):
            rows.append({"experiment": "e", "task": task, "difficulty": float("nan"), "width": 32,
                         "budget": "iso-param", "layer": layer, "seed": seed,
                         "metric": "test_acc", "value": v, "status": "ok"})  # fmt: skip
    return pd.DataFrame(rows)


def test_leaderboard_and_aggregate_score_against_hand_computed_values(tmp_path):
    from experiments.zoo_bench.report import aggregate_scores, leaderboard, write_report

    board = leaderboard(_table()).set_index(["setting", "layer"])
    assert board.loc[("e:A w32", "l1"), "mean"] == pytest.approx(0.7)
    assert board.loc[("e:B w32", "l2"), "sd"] == pytest.approx(np.std([0.5, 0.3], ddof=1))
    agg = aggregate_scores(_table(), n_boot=200).set_index("layer")
    # A: l1 0.7 (best), l2 0.4 -> 1, 4/7; B: l1 0.2, l2 0.4 (best) -> 1/2, 1; C: only l1, excluded
    assert agg.loc["l1", "score"] == pytest.approx((1 + 0.5) / 2)
    assert agg.loc["l2", "score"] == pytest.approx((4 / 7 + 1) / 2)
    assert (agg["settings"] == 2).all()
    assert all(r.lo <= r.score + 1e-12 and r.score - 1e-12 <= r.hi for r in agg.itertuples())
    _table().to_csv(tmp_path / "table.csv", index=False)
    text = write_report(tmp_path, n_boot=50).read_text()
    assert "| l1 | 0.750" in text and (tmp_path / "leaderboard.csv").exists()


def test_the_report_joins_the_parts_of_a_split_run_and_refuses_a_cell_twice(tmp_path):
    from experiments.zoo_bench.report import read_parts, write_report

    t = _table().assign(cell_id=lambda d: d["task"] + "/" + d["layer"])
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "joined"
    for d, part in ((a, t[t.task == "A"]), (b, t[t.task != "A"])):
        d.mkdir()
        part.to_csv(d / "table.csv", index=False)
    assert len(read_parts([a, b])) == len(t)
    joined = write_report([a, b], out=out, n_boot=50).read_text()
    (tmp_path / "whole").mkdir()
    t.to_csv(tmp_path / "whole" / "table.csv", index=False)
    assert joined == write_report(tmp_path / "whole", n_boot=50).read_text()
    with pytest.raises(ValueError, match="more than one run directory"):
        read_parts([a, a])


def test_supersede_keeps_the_last_parts_record_of_a_rerun_cell_and_lists_it(tmp_path):
    from experiments.zoo_bench.report import read_parts, write_report

    t = _table().assign(cell_id=lambda d: d["task"] + "/" + d["layer"])
    first, rerun = tmp_path / "first", tmp_path / "rerun"
    first.mkdir(), rerun.mkdir()
    t.to_csv(first / "table.csv", index=False)
    cell = (t.task == "A") & (t.layer == "l2")
    redo = t[cell].assign(value=lambda d: d["value"] + 0.25)
    redo.to_csv(rerun / "table.csv", index=False)
    replaced: list = []
    joined = read_parts([first, rerun], supersede=True, superseded=replaced)
    assert len(joined) == len(t)  # nothing counted twice
    got = joined[(joined.task == "A") & (joined.layer == "l2")].sort_values("seed")["value"]
    np.testing.assert_allclose(got, t[cell].sort_values("seed")["value"] + 0.25)
    assert sorted(replaced) == sorted(set(zip(redo["experiment"], redo["cell_id"], redo["seed"])))
    text = write_report([first, rerun], out=tmp_path / "j", n_boot=20, supersede=True).read_text()
    assert "## Superseded cells" in text and "A/l2 (l2, A" in text


def test_published_numbers_sit_beside_ours_for_real_data_sets_only():
    from experiments.zoo_bench.published import PUBLISHED, SOURCES
    from experiments.zoo_bench.report import published_beside_ours

    assert not published_beside_ours(_table())  # tasks A, B, C: no published row
    t = _table().replace({"task": {"A": "GunPoint", "B": "digits"}})
    lines = published_beside_ours(t)
    rows = [ln for ln in lines if ln.startswith("| GunPoint")]
    assert len(rows) == 1 and "0.700 ± 0.141 (l1, iso-param)" in rows[0]  # l1: 0.8, 0.6
    assert "ROCKET 1.000, mean of 10 runs [rocket]" in rows[0]
    assert not any(ln.startswith("| digits") for ln in lines)  # no published split
    assert all(0 < a <= 1 and src in SOURCES for _, _, a, _, src in PUBLISHED)
