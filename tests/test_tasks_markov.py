"""Tests of ssmbench/tasks/markov.py: sequences follow the sampled chain."""

import numpy as np

from ssmbench.tasks.markov import markov_batches, markov_chain


def test_markov_batches_follow_the_chain():
    rng = np.random.default_rng(0)
    trans = markov_chain(5, rng, alpha=0.5)
    seqs = markov_batches(trans, 4, 50, 40, rng).reshape(-1, 41)
    counts = np.zeros((5, 5))
    np.add.at(counts, (seqs[:, :-1].ravel(), seqs[:, 1:].ravel()), 1)
    emp = counts / counts.sum(1, keepdims=True)
    # 8000 transitions, ~1600 per row: empirical rows within 0.05 of the truth
    np.testing.assert_allclose(emp, trans, atol=0.05)
