"""Channels-last weights against the default layout: time of this project's networks on the CPU.

For each network and workload (a training step: forward, backward of the
summed output; or inference under ``torch.no_grad()``), times the default
NCHW layout and a copy converted with
:func:`metaaug.nets.layout.to_channels_last` (its input converted too): mean
of ``--repeats`` runs after one warm-up. 28x28 single-channel images, the
defaults of the estimators that build these networks.

    python -m benchmarks.speed.channels_last

Threads: ``METAAUG_THREADS`` (default 1).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
from torch import nn

from benchmarks.tables._shared import env_threads
from metaaug.nets.conv4 import Conv4
from metaaug.nets.layout import to_channels_last
from metaaug.nets.msgan import MSGANDiscriminator, MSGANGenerator
from metaaug.nets.vae import ConvVAE


def seconds(step: Callable[[], None], repeats: int) -> float:
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def workload(module: nn.Module, inputs: torch.Tensor, train: bool) -> Callable[[], None]:
    def step() -> None:
        if train:
            module.zero_grad(set_to_none=True)
            output = module(inputs)
            (output[0] if isinstance(output, tuple) else output).sum().backward()
        else:
            with torch.no_grad():
                module(inputs)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(env_threads(1))
    torch.manual_seed(0)
    vae = ConvVAE((1, 28, 28), 20, 16)
    gan = MSGANGenerator((1, 28, 28), 128, 16)
    cases = [
        ("conv4, training step, 100 images", Conv4(1), torch.rand(100, 1, 28, 28), True),
        ("conv4, embedding 1000 images", Conv4(1).eval(), torch.rand(1000, 1, 28, 28), False),
        ("LASIUM VAE (16 filters), training step, 128 images", vae, torch.rand(128, 1, 28, 28), True),
        ("LASIUM VAE, decoding 2048 latents", copy.deepcopy(vae.decoder).eval(), torch.randn(2048, 20), False),
        ("MSGAN generator, training step, 128 latents", gan, torch.randn(128, 128), True),
        ("MSGAN generator, generating 2048 images", copy.deepcopy(gan).eval(), torch.randn(2048, 128), False),
        (
            "MSGAN discriminator, training step, 256 images",
            MSGANDiscriminator((1, 28, 28)),
            torch.rand(256, 1, 28, 28),
            True,
        ),
    ]
    print(f"| network, work | default layout | channels-last | speed-up |  ({torch.get_num_threads()} thread(s))")
    print("|---|---|---|---|")
    for name, module, inputs, train in cases:
        default = seconds(workload(module, inputs, train), args.repeats)
        fast_inputs = inputs.contiguous(memory_format=torch.channels_last) if inputs.dim() == 4 else inputs
        fast = seconds(workload(to_channels_last(copy.deepcopy(module)), fast_inputs, train), args.repeats)
        print(f"| {name} | {1e3 * default:.0f} ms | {1e3 * fast:.0f} ms | {default / fast:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
