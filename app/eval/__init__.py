"""`mmrag eval`: the runner, pure metrics, the BM25 baseline and the cross-validation."""
