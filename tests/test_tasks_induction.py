"""Tests of ssmbench/tasks/induction.py: the induction-head batch."""

import jax
import numpy as np

from ssmbench.tasks.induction import induction_head_batch


def test_induction_head_batch_labels():
    tokens, labels = induction_head_batch(jax.random.PRNGKey(0), 32, 20, 8)
    tokens, labels = np.asarray(tokens), np.asarray(labels)
    assert tokens.shape == (32, 20) and labels.shape == (32,)
    for seq, lab in zip(tokens, labels):
        triggers = np.flatnonzero(seq == 0)
        assert len(triggers) == 2 and triggers[-1] == 19  # one trigger inside, one at the end
        assert seq[triggers[0] + 1] == lab and 1 <= lab < 8
