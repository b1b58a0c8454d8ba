"""The row names of benchmarks/tables/unsupervised_meta_learning.py (the parser only: no training)."""

import pytest

from benchmarks.tables.unsupervised_meta_learning import DEFAULT_ROWS, RowSpec, parse_row, result_path


def test_ways_queries_and_learner_are_parsed():
    assert parse_row("lasium-n-ae+bin@20w10q:proto") == RowSpec("lasium-n-ae+bin", 20, 10, "proto")
    assert parse_row("umtra@20w:maml") == RowSpec("umtra", 20, None, "maml")
    assert parse_row("umtra:proto") == RowSpec("umtra", None, None, "proto")
    assert parse_row("psco+nomomentum+queue1024") == RowSpec("psco+nomomentum+queue1024", None, None, "-")
    assert parse_row("pixel-nn:-").learner == "-"
    assert [parse_row(row).sampler for row in DEFAULT_ROWS].count("umtra") == 2  # one fitted sampler shared
    assert result_path("r", "umtra@20w:proto").name == "umtra@20w__proto.json"


@pytest.mark.parametrize(
    "row, message",
    [
        ("umtra@20:proto", "malformed row"),
        ("umtra@w5:proto", "malformed row"),
        ("umtra", "learner must be proto or maml"),
        ("umtra:knn", "learner must be proto or maml"),
        ("psco@20w", "has no learner"),
        ("psco+fast", "unknown PsCo option"),
    ],
)
def test_malformed_rows_exit_with_a_message(row, message):
    with pytest.raises(SystemExit, match=message):
        parse_row(row)
