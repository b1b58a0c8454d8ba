"""metaaug's benchmarks: the paper tables (``tables/``) and speed measurements (``speed/``).

Not part of the installed library. Run them from the repository root as
modules, e.g. ``python -m benchmarks.tables.unsupervised_meta_learning``;
their shared helpers live in :mod:`benchmarks._harness`.
"""
