"""Next-token data from a random sparse Markov chain (NumPy, seeded by a ``Generator``).

``markov_chain`` draws a transition matrix with Dirichlet rows; ``markov_batches`` samples token
sequences from it. The next-token loss of a model that learned the chain approaches the chain's
entropy rate; a uniform guess scores ``log(vocab)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["markov_chain", "markov_batches"]


def markov_chain(vocab: int, rng: np.random.Generator, alpha: float = 0.1) -> np.ndarray:
    """A random transition matrix with Dirichlet(alpha) rows (small alpha: near-deterministic)."""
    return rng.dirichlet(np.full(vocab, alpha), size=vocab)


def markov_batches(
    trans: np.ndarray, n_batches: int, batch: int, length: int, rng: np.random.Generator
) -> np.ndarray:
    """Token sequences of shape (n_batches, batch, length + 1) sampled from the chain."""
    vocab = trans.shape[0]
    cum = np.cumsum(trans, axis=1)
    out = np.empty((n_batches * batch, length + 1), dtype=np.int32)
    out[:, 0] = rng.integers(0, vocab, size=n_batches * batch)
    for t in range(length):
        r = rng.random(n_batches * batch)[:, None]
        out[:, t + 1] = np.minimum((r > cum[out[:, t]]).sum(axis=1), vocab - 1)
    return out.reshape(n_batches, batch, length + 1)
