"""Data-parallel fits of the generators (AE family, LASIUM's VAE / GAN, LoFGAN, MetaFAVAE) on 2 CPU processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metaaug import AE, LASIUM, IntAE, LoFGAN, MetaFAVAE
from metaaug.distributed import DataParallel, batch_share, split_torch_streams

# the steps each case of tests/_distributed_generator_cases.py asks for
EXPECTED_STEPS = {"ae": 4, "intae": 4, "lasium_vae": 3, "lasium_gan": 3, "lofgan": 3, "metafavae": 2}


@pytest.fixture(scope="module")
def cases(two_ranks):
    return [result["generators"] for result in two_ranks]


@pytest.mark.parametrize("name", sorted(EXPECTED_STEPS))
def test_ranks_end_with_identical_networks_and_loss_curves(cases, name):
    first, second = cases[0][name], cases[1][name]
    assert first["state"].keys() == second["state"].keys()
    for key, value in first["state"].items():
        assert torch.equal(value, second["state"][key]), f"{name}: {key} differs across ranks"
    np.testing.assert_array_equal(first["loss_curve"], second["loss_curve"])


@pytest.mark.parametrize("name", sorted(EXPECTED_STEPS))
def test_every_case_trained_its_steps(cases, name):
    for rank in cases:
        case = rank[name]
        assert case["n_iter"] == EXPECTED_STEPS[name]
        assert len(case["loss_curve"]) == EXPECTED_STEPS[name]
        assert np.isfinite(case["loss_curve"]).all()
        assert all(torch.isfinite(v).all() for v in case["state"].values() if v.is_floating_point())


@pytest.mark.parametrize("cls", [AE, IntAE, LASIUM, LoFGAN, MetaFAVAE])
def test_the_generators_declare_data_parallel_fits(cls):
    assert cls._data_parallel


def test_batch_share_splits_a_batch_or_keeps_a_small_one_whole():
    assert [batch_share(DataParallel(r, 2), 32) for r in range(2)] == [(0, 16), (16, 32)]
    assert [batch_share(DataParallel(r, 2), 5) for r in range(2)] == [(0, 2), (2, 5)]
    assert [batch_share(DataParallel(r, 2), 3) for r in range(2)] == [(0, 3), (0, 3)]


def test_split_torch_streams_shares_one_stream_and_gives_each_rank_its_own():
    shared, own = [], []
    for rank in range(2):
        with torch.random.fork_rng():
            generator = split_torch_streams(DataParallel(rank, 2), np.random.default_rng(0))
            shared.append(torch.randperm(10, generator=generator))
            own.append(torch.rand(4))
    assert torch.equal(shared[0], shared[1])
    assert not torch.equal(own[0], own[1])


def test_lasium_refuses_to_fit_a_users_unfitted_backend_data_parallel():
    from sklearn.decomposition import PCA

    from metaaug.distributed import DistributedTrainingError

    with pytest.raises(DistributedTrainingError, match="not fitted and does not train data-parallel"):
        LASIUM(backend=PCA(2))._check_parallel_backend()
    LASIUM(backend=AE())._check_parallel_backend()  # fitted data-parallel itself
