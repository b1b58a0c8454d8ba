"""Reconstruction error on training vs novel domains: AE, IntAE, AugIntAE and a same-size VAE.

The IntAE / AugIntAE papers' Table 1 kind: models trained on the 6 training
alphabets of the Omniglot dev split (unlabeled), then the mean per-pixel L1
reconstruction error is measured on training-alphabet images, on the novel
alphabets (Korean + Tagalog) and on sklearn digits (upscaled to 20 px and
padded to 28, MNIST style). Autoencoders should generalise to the novel
domains far better than a VAE of the same size.

Fitted models are cached (``--models-dir``, see ``benchmarks/tables/_shared.py``)
and reused by the other autoencoder tables (``interpolation_strips``,
``data_hallucination``, ``autoencoder_faithfulness``).

    python -m benchmarks.tables.autoencoder_generalisation --models-dir /tmp/metaaug_models

Each model can be fitted in its own run (``--models AE --no-doc``), the last
run (all models, loaded from the cache) writes the docs table; fit statistics
are kept next to each cached model (``.json``), so the table shows them too.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import markdown_table, provenance, publish_section
from benchmarks.tables._shared import add_model_arguments, env_threads, load_or_fit_models
from metaaug.data import load_digits


def digits_as_characters() -> torch.Tensor:
    """sklearn digits upscaled to 20x20 and padded to 28x28 (ink 1 on 0, like MNIST)."""
    X, _ = load_digits()
    return F.pad(F.interpolate(X, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1), (4, 4, 4, 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser, epochs_help="training epochs (the estimators' default)")
    parser.add_argument("--models", default="AE,IntAE,AugIntAE,VAE", help="rows to train/evaluate")
    parser.add_argument(
        "--threads",
        type=int,
        default=env_threads(1),
        help="torch threads (1 is fastest for these small nets on a shared 2-core box)",
    )
    parser.add_argument("--refit", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (X_train, _), (X_novel, _) = load_dev_split()
    digits = digits_as_characters()
    names = [n for n in args.models.split(",") if n]
    models, fit_rows = load_or_fit_models(names, X_train, args.epochs, args.width, args.models_dir, args.refit)
    rows = []
    for name in names:
        model = models[name]
        errors = [model.reconstruction_error(X) for X in (X_train, X_novel, digits)]
        rows.append(
            {
                "model": name,
                "training alphabets": f"{errors[0]:.4f}",
                "novel alphabets (Korean + Tagalog)": f"{errors[1]:.4f}",
                "digits (28 px)": f"{errors[2]:.4f}",
                "novel / training": f"{errors[1] / errors[0]:.2f}",
            }
        )
        print(rows[-1], flush=True)
    total = time.perf_counter() - start
    body = "\n".join(
        [
            "## AE / IntAE / AugIntAE: reconstruction on training vs novel domains",
            "",
            *provenance(
                f"{total / 60:.1f} min for this run; fit times of each model below (cached models are "
                "loaded, not refitted)",
                note="after fitting each model in its own run with `--models NAME --no-doc`",
            ),
            "",
            f"Trained unlabeled on the 6 training alphabets (3700 images, 28 px), width {args.width}, "
            f"{args.epochs} epochs (the estimators' default is 20). Mean per-pixel L1 reconstruction error "
            "(images in [0, 1]); the VAE has the same encoder/generator (encoder emits mean and log-variance) "
            "and reconstructs from the posterior mean:",
            "",
            markdown_table(rows),
            *(
                ["Fits (wall and CPU seconds on the hardware above, one thread):", "", markdown_table(fit_rows)]
                if fit_rows
                else []
            ),
        ]
    )
    publish_section("autoencoders-generalisation", body, write=not args.no_doc)


if __name__ == "__main__":
    main()
