"""Helpers shared by the benchmark scripts (not part of the library).

* :mod:`benchmarks._harness.reporting`: hardware line, markdown tables and
  the sections each script writes into ``docs/benchmarks.md``.
* :mod:`benchmarks._harness.dev_split`: the Omniglot dev split every table
  uses, found beside the checkout (``../shared/data/omniglot``).
* :mod:`benchmarks._harness.feature_cache`: the conv4 feature space of the
  generation metrics, fitted once and cached on disk.
"""
