"""The zoo benchmark's leaderboard and aggregate score, from a run directory's ``table.csv``.

- **Leaderboard**: layer × task setting, test accuracy mean ± sd over seeds, one table per budget.
  A task setting is the experiment, the task, its difficulty value and the reference width.
- **Aggregate score** (our own aggregate, not a published one): a layer's test accuracy on a
  setting divided by the best layer's mean test accuracy on that setting (so the best layer
  scores 1 there), averaged over the settings that *every* layer of the budget ran (a setting
  only some layers ran would favour them). Its interval is a percentile
  bootstrap over seeds: each draw resamples, per layer and setting, that cell's seeds with
  replacement and recomputes the whole score, the best-layer normaliser included.

``python -m experiments.zoo_bench report RUN_DIR [RUN_DIR ...] [--out DIR]`` writes
``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.png`` into the run directory (or ``DIR``).
Several run directories are the parts of one full run split with ``--only``: their tables are
concatenated, and a cell recorded in two of them is refused, since it would be counted twice;
with ``--supersede`` the last part's record of such a cell is used instead (a deliberate rerun)
and the replaced cells are listed in ``leaderboard.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .published import PUBLISHED, SOURCES

__all__ = ["settings", "leaderboard", "aggregate_scores", "read_parts", "published_beside_ours",
           "write_report"]  # fmt: skip


def settings(table: pd.DataFrame) -> pd.DataFrame:
    """The ok ``test_acc`` rows with a ``setting`` label and the ``budget`` of each."""
    t = table[(table["metric"] == "test_acc") & (table["status"] == "ok")].copy()
    diff = t["difficulty"].map(lambda d: "" if pd.isna(d) else f"@{d:g}")
    width = t["width"].map(lambda w: f" w{int(w)}")
    t["setting"] = t["experiment"] + ":" + t["task"].astype(str) + diff + width
    return t[["budget", "setting", "layer", "seed", "value"]]


def _setting_order(setting: str) -> tuple:
    """Sort key of a setting label: experiment, task, then difficulty and width as numbers."""
    head, width = setting.rsplit(" w", 1)
    head, _, diff = head.partition("@")
    return (head, float(diff) if diff else 0.0, int(width))


def leaderboard(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of test accuracy over seeds, per budget, layer and setting (long format)."""
    g = settings(table).groupby(["budget", "setting", "layer"])["value"]
    return g.agg(mean="mean", sd="std", n="count").reset_index()


def _score(acc: pd.DataFrame) -> pd.Series:
    """Per layer: the mean over settings of mean accuracy / the best layer's mean accuracy."""
    means = acc.groupby(["setting", "layer"])["value"].mean()
    best = means.groupby(level="setting").transform("max")
    norm = (means / best.where(best > 0)).dropna()
    return norm.groupby(level="layer").mean()


def aggregate_scores(table: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.90) -> pd.DataFrame:  # fmt: skip
    """Per budget and layer: the aggregate score, its ``level`` bootstrap interval over seeds,
    and the number of settings it averages (those every layer of the budget ran)."""
    rng = np.random.default_rng(seed)
    rows = []
    for budget, acc in settings(table).groupby("budget"):
        n_layers = acc["layer"].nunique()
        common = acc.groupby("setting")["layer"].nunique()
        acc = acc[acc["setting"].isin(common[common == n_layers].index)]
        if acc.empty:
            continue
        point = _score(acc)
        cells = [g["value"].to_numpy() for _, g in acc.groupby(["setting", "layer"])]
        keys = list(acc.groupby(["setting", "layer"]).groups)
        draws = []
        for _ in range(n_boot):
            vals = [rng.choice(v, size=len(v), replace=True).mean() for v in cells]
            boot = pd.DataFrame(
                {"setting": [k[0] for k in keys], "layer": [k[1] for k in keys], "value": vals}
            )
            draws.append(_score(boot))
        draws = pd.DataFrame(draws)
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        n_set = acc.groupby("layer")["setting"].nunique()
        for layer, s in point.items():
            rows.append({"budget": budget, "layer": layer, "score": s,
                         "lo": float(draws[layer].quantile(lo)),
                         "hi": float(draws[layer].quantile(hi)), "settings": int(n_set[layer])})  # fmt: skip
    return pd.DataFrame(rows).sort_values(["budget", "score"], ascending=[True, False])


def read_parts(run_dirs: list[str | Path], *, supersede: bool = False,
               superseded: list | None = None) -> pd.DataFrame:  # fmt: skip
    """The concatenated ``table.csv`` of one or more run directories (the parts of a split run).

    Raises ``ValueError`` when a (experiment, cell, seed) appears in two parts, unless
    ``supersede``: then the rows of the *last* part that holds the cell are kept (a deliberate
    rerun, e.g. after a fix) and each replaced ``(experiment, cell_id, seed)`` is appended to
    ``superseded`` (when given), so that the report can list it."""
    tables = [pd.read_csv(Path(d) / "table.csv").assign(part=i) for i, d in enumerate(run_dirs)]
    table = pd.concat(tables, ignore_index=True)
    key = ["experiment", "cell_id", "seed"] if "cell_id" in table else ["experiment", "seed"]
    if "cell_id" in table:
        parts = table.drop_duplicates([*key, "part"]).groupby(key)["part"].nunique()
        twice = parts[parts > 1]
        if len(twice) and not supersede:
            raise ValueError(
                f"{len(twice)} cell(s) are recorded in more than one run directory, e.g. "
                f"{twice.index[0]}: give each part once (or supersede to keep the last part's)"
            )
        if len(twice):
            last = table.groupby(key)["part"].transform("max")
            table = table[table["part"] == last]
            if superseded is not None:
                superseded.extend(twice.index.tolist())
    return table.drop(columns="part")


def write_report(run_dir: str | Path | list[str | Path], *, out: str | Path | None = None,
                 n_boot: int = 1000, supersede: bool = False) -> Path:  # fmt: skip
    """Write ``leaderboard.md`` / ``.csv`` (and ``.png`` with matplotlib) into ``out`` (default:
    the run directory, or the first of several); ``supersede`` as in :func:`read_parts`, with the
    replaced cells listed at the end of ``leaderboard.md``."""
    dirs = run_dir if isinstance(run_dir, list) else [run_dir]
    run = Path(out if out is not None else dirs[0])
    run.mkdir(parents=True, exist_ok=True)
    replaced: list = []
    table = read_parts(dirs, supersede=supersede, superseded=replaced)
    board = leaderboard(table)
    agg = aggregate_scores(table, n_boot=n_boot)
    board.to_csv(run / "leaderboard.csv", index=False)
    lines = ["# Zoo leaderboard", "",
             "Test accuracy, mean ± sd over seeds (n seeds in brackets); the aggregate score is "
             "ours: accuracy / the best layer's on each setting, averaged over the settings every "
             "layer ran (their number in brackets), with a 90% bootstrap interval over seeds.",
             ""]  # fmt: skip
    for budget, b in board.groupby("budget"):
        cell = b.assign(txt=[f"{m:.3f} ± {0.0 if pd.isna(s) else s:.3f} ({n})"
                             for m, s, n in zip(b["mean"], b["sd"], b["n"])])  # fmt: skip
        wide = cell.pivot(index="layer", columns="setting", values="txt").fillna("–")
        wide = wide[sorted(wide.columns, key=_setting_order)]
        a = agg[agg["budget"] == budget].set_index("layer")
        wide.insert(0, "aggregate", [
            f"{a.loc[k, 'score']:.3f} [{a.loc[k, 'lo']:.3f}, {a.loc[k, 'hi']:.3f}] "
            f"({a.loc[k, 'settings']})" if k in a.index else "–" for k in wide.index
        ])  # fmt: skip
        wide = wide.loc[[*a.index.intersection(wide.index), *wide.index.difference(a.index)]]
        lines += [f"## {budget}", "", "| layer | " + " | ".join(wide.columns) + " |",
                  "|---" * (len(wide.columns) + 1) + "|"]  # fmt: skip
        lines += [f"| {k} | " + " | ".join(r) + " |" for k, r in wide.iterrows()]
        lines.append("")
    lines += published_beside_ours(table)
    if replaced:
        lines += ["## Superseded cells", "",
                  f"{len(replaced)} (experiment, cell, seed) recorded in more than one part; the "
                  "last part's record is used:", "",
                  *(f"- {e}, {c}{_what(table, c)}, seed {s}" for e, c, s in replaced),
                  ""]  # fmt: skip
    (run / "leaderboard.md").write_text("\n".join(lines), encoding="utf-8")
    _plot(board, run / "leaderboard.png")
    return run / "leaderboard.md"


def _what(table: pd.DataFrame, cell_id: str) -> str:
    """`` (layer, task, difficulty)`` of a cell, for the list of superseded cells."""
    cols = [c for c in ("layer", "task", "difficulty") if c in table]
    rows = table[table["cell_id"] == cell_id][cols]
    return " (" + ", ".join(str(v) for v in rows.iloc[0]) + ")" if len(rows) and cols else ""


def published_beside_ours(table: pd.DataFrame) -> list[str]:
    """Markdown lines: per real data set in ``table``, our best layer (by mean test accuracy,
    every budget) and the published numbers of :data:`~experiments.zoo_bench.published.PUBLISHED`
    with their protocol and source. Empty when the table holds no such data set."""
    t = settings(table).assign(
        task=lambda d: d["setting"].str.split(":").str[1].str.split(" ").str[0]
    )
    ours = t.groupby(["task", "budget", "layer"])["value"].agg(["mean", "std", "count"])
    tasks = [d for d in dict.fromkeys(r[0] for r in PUBLISHED) if d in set(t["task"])]
    if not tasks:
        return []
    lines = ["## Published numbers beside ours (real data)", "",
             "Ours: the best layer's mean ± sd test accuracy over seeds, selected on validation. "
             "Published: as printed by the source; read each with its protocol (test-selected "
             "numbers are optimistic upper bounds). Sources are listed below the table.", "",
             "| data set | ours (best layer, budget) | published: model, accuracy, protocol [source] |",
             "|---|---|---|"]  # fmt: skip
    for task in tasks:
        best = ours.loc[task].sort_values("mean", ascending=False).iloc[[0]]
        (budget, layer), row = best.index[0], best.iloc[0]
        sd = 0.0 if pd.isna(row["std"]) else row["std"]
        pub = "; ".join(f"{m} {a:.3f}, {p} [{src}]" for d, m, a, p, src in PUBLISHED if d == task)
        lines.append(f"| {task} | {row['mean']:.3f} ± {sd:.3f} ({layer}, {budget}) | {pub} |")
    lines += ["", *(f"- [{k}] {v}" for k, v in SOURCES.items()), ""]
    return lines


def _plot(board: pd.DataFrame, path: Path) -> None:
    """A heat map of mean test accuracy, layer × setting, one panel per budget."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the plot extra is optional
        return
    budgets = sorted(board["budget"].unique())
    fig, axes = plt.subplots(1, len(budgets), figsize=(6 * len(budgets), 4), squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        wide = board[board["budget"] == budget].pivot(index="layer", columns="setting",
                                                       values="mean")  # fmt: skip
        wide = wide[sorted(wide.columns, key=_setting_order)]  # as in leaderboard.md
        im = ax.imshow(wide.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(wide.shape[1]), wide.columns, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(wide.shape[0]), wide.index)
        ax.set_title(f"test accuracy ({budget})")
    fig.colorbar(im, ax=axes[0].tolist())
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
