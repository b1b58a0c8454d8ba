"""LASIUM over a generator you bring: any ``nn.Module`` or callable mapping latents to images.

Two generators trained outside the LASIUM that samples from them:

* a plain ``nn.Sequential`` decoder, trained here as the decoder of a small
  VAE (so that its latents follow N(0, I), LASIUM's default prior);
* metaaug's mode-seeking GAN, trained once by ``LASIUM(backend="gan")`` and
  then handed to a new LASIUM as a plain module.

Each drives ``LASIUM(backend=G).fit()`` (no images: anchors come from the
prior), and a ProtoNet meta-trained on its tasks is tested on real held-out
classes (scikit-learn digits: train on 0-4 without labels, test on 5-9).

A pretrained model on a machine with internet (not run here), e.g. PyTorch
Hub's DCGAN (64x64 RGB outputs in [-1, 1]); its ``test`` method maps latents
to images and ``buildNoiseData`` tells the latent size::

    hub = torch.hub.load("facebookresearch/pytorch_GAN_zoo:hub", "DCGAN", pretrained=True, useGPU=False)
    latent_dim = hub.buildNoiseData(1)[0].shape[1]
    lasium = metaaug.LASIUM(backend=hub.test, latent_dim=latent_dim, image_size=28, channels=1).fit()
    lasium.save("dcgan_lasium.pt", include_backend=False)  # the hub model is not stored
    lasium = metaaug.LASIUM.load("dcgan_lasium.pt", backend=hub.test)

``output_range="auto"`` detects the tanh range and maps it to [0, 1];
``image_size`` and ``channels`` resize and convert to grey (luma). A generator
that needs class labels or a truncation value is wrapped in
``metaaug.samplers.GeneratorAdapter``.

    python examples/lasium_own_generator.py   # about 1.5 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

import metaaug
from metaaug.data import LabeledTaskSampler, load_digits
from metaaug.fewshot import ProtoNetClassifier


def train_vae_decoder(X: torch.Tensor, latent_dim: int, epochs: int) -> nn.Sequential:
    """A small MLP VAE trained on ``X``; its decoder, latents -> images ``(N, 1, 8, 8)``."""
    pixels = X[0].numel()
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 128), nn.ReLU(), nn.Linear(128, 2 * latent_dim))
    decoder = nn.Sequential(
        nn.Linear(latent_dim, 128), nn.ReLU(), nn.Linear(128, pixels), nn.Sigmoid(), nn.Unflatten(1, X.shape[1:])
    )
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-3)
    for _ in range(epochs):
        for batch in X[torch.randperm(len(X))].split(64):
            mean, log_variance = encoder(batch).chunk(2, dim=1)
            z = mean + torch.randn_like(mean) * (0.5 * log_variance).exp()
            reconstruction = F.binary_cross_entropy(decoder(z), batch, reduction="sum") / len(batch)
            kl = -0.5 * (1 + log_variance - mean.pow(2) - log_variance.exp()).sum(1).mean()
            optimizer.zero_grad()
            (reconstruction + kl).backward()
            optimizer.step()
    return decoder.eval()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vae-epochs", type=int, default=30)
    parser.add_argument("--gan-epochs", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=60, help="ProtoNet meta-training iterations")
    parser.add_argument("--test-tasks", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    X, y = load_digits()
    X_train, X_test, y_test = X[y < 5], X[y >= 5], y[y >= 5] - 5
    test = LabeledTaskSampler(X_test, y_test).sample_tasks(args.test_tasks, 5, 1, 15, random_state=args.seed)

    decoder = train_vae_decoder(X_train, latent_dim=8, epochs=args.vae_epochs)
    gan = metaaug.LASIUM(backend="gan", epochs=args.gan_epochs, verbose=False, random_state=args.seed)
    msgan: nn.Module = gan.fit(X_train).backend_  # from here on a plain nn.Module

    generators = {
        "nn.Sequential VAE decoder": metaaug.LASIUM(backend=decoder, latent_dim=8, sigma2=0.1),
        "MSGAN as a plain module": metaaug.LASIUM(backend=msgan),
    }
    results = {}
    for name, lasium in generators.items():
        lasium.set_params(random_state=args.seed, verbose=False).fit()  # no images: prior anchors
        clf = ProtoNetClassifier(
            n_ways=5, k_shot=1, k_query=5, n_iterations=args.iterations, verbose=False, random_state=args.seed
        ).fit(lasium)
        mean, ci = clf.evaluate(test)
        results[name] = mean
        print(f"{name:28s} 5-way 1-shot on held-out digits: {100 * mean:.1f} ± {100 * ci:.1f}%")
    return results


if __name__ == "__main__":
    main()
