"""Theory checks: one package per paper (``docs/claims/*.md``). Each claim is an experiment that
can fail: ``theory.complex_vs_real``, ``theory.selectivity``, ``theory.feature_learning``,
``theory.rough_paths``. Their data generators live in :mod:`ssmbench.tasks`; every training goes
through :mod:`ssmbench.train`."""
