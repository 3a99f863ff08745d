"""Theory checks: one module per paper. Each claim is an experiment that can fail."""
