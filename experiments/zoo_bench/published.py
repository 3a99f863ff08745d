"""Published test accuracies on the benchmark's real data sets, to print beside ours.

Gathered 2026-12-08 from the sources named in each row. Read every row with its protocol: the
MambaSL numbers (Mamba-class models, the only SSM-class numbers found for these sets) select
hyperparameters and checkpoints on the published *test* split and report the best of a grid, so
they are optimistic upper bounds, not comparable one-to-one with our validation-selected means. No
published S4, S4D, LRU or neural-CDE number was found for any of the six sets (the log-NCDE UEA
suite uses other sets). The 1-NN DTW, ROCKET and InceptionTime rows are non-SSM references.
``digits`` has no published split, so no row.
"""

from __future__ import annotations

__all__ = ["PUBLISHED", "SOURCES"]

#: Short source keys -> where each number was read.
SOURCES: dict[str, str] = {
    "mambasl-ablation": "MambaSL (Jung & Kim, ICLR 2026, arXiv 2604.15174), authors' repository "
    "yoom618/MambaSL, figures_n_tables/tables/model-ablation.xlsx, sheet Full, column Mamba",
    "mambasl-uea": "MambaSL authors' repository, figures_n_tables/tables/uea-results.xlsx, "
    "sheet UEA30",
    "inceptiontime": "InceptionTime (Fawaz et al. 2020), repository hfawaz/InceptionTime, "
    "results-mts.csv (multivariate; unlinked in its README) and results-InceptionTime-128.csv",
    "ucr2018": "UCR archive 2018 (Dau et al.), DataSummary.csv: error rates of 1-NN DTW with a "
    "learned window and with a full window (accuracy = 1 - error)",
    "rocket": "ROCKET (Dempster et al. 2020), repository angus924/rocket, "
    "results/results_ucr.csv: mean of 10 runs on the published split",
}

#: (data set, model, test accuracy in [0, 1], protocol, source key).
PUBLISHED: list[tuple[str, str, float, str, str]] = [
    ("JapaneseVowels", "Mamba (single layer)", 0.9730, "best of 30 configs, test-selected", "mambasl-ablation"),
    ("JapaneseVowels", "MambaSL", 0.9865, "best of grid, test-selected", "mambasl-uea"),
    ("JapaneseVowels", "1-NN DTW_D", 0.9595, "published split", "mambasl-uea"),
    ("JapaneseVowels", "InceptionTime", 0.9919, "published split, one run", "inceptiontime"),
    ("BasicMotions", "Mamba (single layer)", 0.975, "best of 30 configs, test-selected", "mambasl-ablation"),
    ("BasicMotions", "MambaSL", 1.0, "best of grid, test-selected", "mambasl-uea"),
    ("BasicMotions", "1-NN DTW_D", 0.975, "published split", "mambasl-uea"),
    ("BasicMotions", "InceptionTime", 1.0, "published split, one run", "inceptiontime"),
    ("ArrowHead", "1-NN DTW (learned window)", 0.8000, "published split", "ucr2018"),
    ("ArrowHead", "1-NN DTW (full window)", 0.7029, "published split", "ucr2018"),
    ("ArrowHead", "ROCKET", 0.8143, "mean of 10 runs", "rocket"),
    ("ArrowHead", "InceptionTime", 0.8457, "published split", "inceptiontime"),
    ("GunPoint", "1-NN DTW (learned window)", 0.9133, "published split", "ucr2018"),
    ("GunPoint", "1-NN DTW (full window)", 0.9067, "published split", "ucr2018"),
    ("GunPoint", "ROCKET", 1.0, "mean of 10 runs", "rocket"),
    ("GunPoint", "InceptionTime", 1.0, "published split", "inceptiontime"),
    ("ItalyPowerDemand", "1-NN DTW (learned window)", 0.9553, "published split", "ucr2018"),
    ("ItalyPowerDemand", "1-NN DTW (full window)", 0.9504, "published split", "ucr2018"),
    ("ItalyPowerDemand", "ROCKET", 0.9696, "mean of 10 runs", "rocket"),
    ("ItalyPowerDemand", "InceptionTime", 0.9650, "published split", "inceptiontime"),
    ("OSULeaf", "1-NN DTW (learned window)", 0.6116, "published split", "ucr2018"),
    ("OSULeaf", "1-NN DTW (full window)", 0.5909, "published split", "ucr2018"),
    ("OSULeaf", "ROCKET", 0.9409, "mean of 10 runs", "rocket"),
    ("OSULeaf", "InceptionTime", 0.9422, "published split", "inceptiontime"),
]  # fmt: skip
