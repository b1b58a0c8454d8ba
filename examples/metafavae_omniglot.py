"""Meta-AVAE vs Meta-FAVAE on the Omniglot dev split: adaptation time, metrics, downstream gain.

Meta-trains both variants (``feedback=False`` / ``True``, same seed and budget)
on the 6 training alphabets (labels used as tasks, like the paper), adapts them
to novel Korean + Tagalog characters from 4 seeds and reports

* adaptation + generation time per class (K = 10 inner iterations, 100 images),
* FID and diversity in the shared dev feature space (``metaaug.metrics``),
* class faithfulness: images generated after adapting to 2 seeds of a novel
  character, classified by nearest prototype (ProtoNets embedding trained on
  the training classes) among ``--novel-classes`` novel classes,
* downstream gain: a conv classifier trained on ``--labeled`` images per novel
  class, with and without Meta-FAVAE augmentation (``downstream_accuracy``),

for both ways of choosing the code ``c`` at generation (``encoded`` seeds or
the ``prior``), writes PNG grids (seeds | Meta-AVAE | Meta-FAVAE) to
``docs/images/`` and the tables to the ``metafavae`` section of
``docs/benchmarks.md``. Fitted models are cached in ``--model-dir`` so a
second invocation only evaluates.

Example (each part under 10 minutes on 2 CPU cores)::

    flock /tmp/metaaug-cpu.lock python examples/metafavae_omniglot.py --only-fit
    flock /tmp/metaaug-cpu.lock python examples/metafavae_omniglot.py
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from metaaug.data import LabeledTaskSampler, load_dev_split
from metaaug.generators.metafavae import MetaFAVAE
from metaaug.reporting import command_line, format_accuracy, hardware_summary, markdown_table, update_benchmarks_doc

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000, help="outer Reptile iterations per model")
    parser.add_argument("--max-time", type=float, default=270.0, help="meta-training seconds per model")
    parser.add_argument("--novel-classes", type=int, default=20, help="novel classes for the metrics")
    parser.add_argument("--n-generate", type=int, default=100, help="images generated per class")
    parser.add_argument("--protonet-time", type=float, default=90.0, help="seconds to train the ProtoNets embedding")
    parser.add_argument("--downstream-seeds", type=int, default=5, help="0 skips the downstream table")
    parser.add_argument("--downstream-epochs", type=int, default=30)
    parser.add_argument("--labeled", type=int, default=4, help="labeled images per novel class (downstream)")
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/metafavae_models"))
    parser.add_argument("--only-fit", action="store_true", help="fit (or load) the models and stop")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md or PNGs")
    parser.add_argument("--random-state", type=int, default=0)
    return parser.parse_args()


def fitted_model(feedback: bool, X: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> MetaFAVAE:
    name = f"{'favae' if feedback else 'avae'}_it{args.iterations}_t{int(args.max_time)}_rs{args.random_state}.pt"
    path = args.model_dir / name
    if path.is_file():
        print(f"loading {path}", flush=True)
        return MetaFAVAE.load(path)
    model = MetaFAVAE(feedback=feedback, n_iterations=args.iterations, max_time=args.max_time,
                      random_state=args.random_state, verbose=False)
    model.fit(X, y)
    model.save(path)
    print(f"fitted {'Meta-FAVAE' if feedback else 'Meta-AVAE'}: {model.n_iterations_} iterations in "
          f"{model.fit_time_:.0f} s -> {path}", flush=True)
    return model


def grid_png(rows: list[list[torch.Tensor]], path: Path, gap: int = 4) -> None:
    """Rows of image blocks (each (N, 1, H, W)) -> one PNG; blocks separated by a gap."""
    lines = []
    for blocks in rows:
        parts = []
        for block in blocks:
            images = block[:, 0].numpy()
            parts.append(np.concatenate(list(images), axis=1))
            parts.append(np.full((images.shape[1], gap), 0.5))
        lines.append(np.concatenate(parts[:-1], axis=1))
        lines.append(np.full((gap, lines[-1].shape[1]), 0.5))
    canvas = np.concatenate(lines[:-1], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((255 * (1 - canvas)).clip(0, 255).astype(np.uint8)).resize(
        (canvas.shape[1] * 2, canvas.shape[0] * 2), Image.NEAREST).save(path)


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    (X_train, y_train), (X_test, y_test) = load_dev_split()
    models = {"Meta-AVAE": fitted_model(False, X_train, y_train, args),
              "Meta-FAVAE": fitted_model(True, X_train, y_train, args)}
    if args.only_fit:
        return

    from metaaug.fewshot import ProtoNetClassifier
    from metaaug.metrics import dev_feature_extractor, diversity, fid, prototype_faithfulness

    rng = np.random.default_rng(args.random_state)
    classes = rng.choice(torch.unique(y_test).numpy(), args.novel_classes, replace=False)
    per_class = [X_test[y_test == c][torch.from_numpy(rng.permutation(int((y_test == c).sum())))] for c in classes]
    seeds4 = [images[:4] for images in per_class]
    seeds2 = [images[:2] for images in per_class]
    real_rest = torch.cat([images[4:] for images in per_class])

    embed = dev_feature_extractor()
    protonet = ProtoNetClassifier(n_ways=20, k_shot=1, k_query=5, n_iterations=5000, max_time=args.protonet_time,
                                  random_state=args.random_state, verbose=False)
    protonet.fit(LabeledTaskSampler(X_train, y_train))

    rows, generated_examples = [], {}
    for name, model in models.items():
        # time of adapting (K = 10) + generating n images, per class, cache empty
        model.clear_cache()
        seconds, generated = [], []
        for i, seeds in enumerate(seeds4):
            tick = time.perf_counter()
            generated.append(model.generate(seeds, args.n_generate, random_state=i))
            seconds.append(time.perf_counter() - tick)
        for condition in ("encoded", "prior"):
            images = [model.generate(s, args.n_generate, random_state=i, condition=condition)
                      for i, s in enumerate(seeds4)]
            from_two = [model.generate(s, 20, random_state=i, condition=condition) for i, s in enumerate(seeds2)]
            generated_examples[(name, condition)] = images
            rows.append({
                "model": name, "c at generation": condition,
                "adapt+generate s/class": f"{np.mean(seconds):.2f} (max {np.max(seconds):.2f})",
                "FID (dev features)": f"{fid(embed, real_rest, torch.cat(images)):.2f}",
                "diversity": f"{diversity(embed, images):.3f}",
                "real diversity": f"{diversity(embed, per_class):.3f}",
                f"faithfulness (2 seeds, {args.novel_classes}-way)":
                    f"{100 * prototype_faithfulness(protonet, seeds2, from_two):.1f}%",
                "meta-train": f"{model.n_iterations_} it, {model.fit_time_:.0f} s",
            })
            print(rows[-1], flush=True)

    downstream_rows = []
    if args.downstream_seeds > 0:
        from metaaug.metrics import downstream_accuracy, labeled_split
        keep = torch.isin(y_test, torch.from_numpy(classes))
        X_few, y_few, X_eval, y_eval = labeled_split(X_test[keep], y_test[keep], args.labeled,
                                                     random_state=args.random_state)
        augmenters = {"none": None, **models}
        for name, augmenter in augmenters.items():
            conditions = ("-",) if augmenter is None else ("encoded", "prior")
            for condition in conditions:
                kwargs = None if augmenter is None else {"condition": condition}
                result = downstream_accuracy(augmenter, X_few, y_few, X_eval, y_eval, n_seeds=args.downstream_seeds,
                                             epochs=args.downstream_epochs, generate_kwargs=kwargs,
                                             random_state=args.random_state)
                downstream_rows.append({"augmenter": name, "c at generation": condition,
                                        "accuracy (%)": format_accuracy(result["mean"], result["ci95"]),
                                        "seconds": f"{result['seconds']:.0f}"})
                print(downstream_rows[-1], flush=True)

    wall = time.perf_counter() - start
    if args.no_docs:
        return
    show = range(min(6, len(seeds4)))
    for condition in ("encoded", "prior"):
        grid_png([[seeds4[i], generated_examples[("Meta-AVAE", condition)][i][:8],
                   generated_examples[("Meta-FAVAE", condition)][i][:8]] for i in show],
                 IMAGES / f"metafavae_grid_{condition}.png")
    body = [
        "## Meta-FAVAE vs Meta-AVAE (Omniglot dev split, 28x28)",
        "",
        f"Command: `{command_line()}`  ",
        f"Hardware: {hardware_summary()}  ",
        f"Wall time of this evaluation: {wall / 60:.1f} min (meta-training: see the last column; "
        f"models cached in `{args.model_dir}`).",
        "",
        f"Meta-trained on the 6 training alphabets with their labels; adapted to {args.novel_classes} random "
        "Korean/Tagalog characters from 4 seeds (2 for faithfulness); "
        f"{args.n_generate} images per class. FID/diversity use `metaaug.metrics.dev_feature_extractor()`; "
        "faithfulness uses a ProtoNets embedding "
        f"trained for {args.protonet_time:.0f} s on the training classes.",
        "",
        markdown_table(rows),
    ]
    if downstream_rows:
        body += [f"Downstream: conv classifier on {args.labeled} labeled images per class of the same "
                 f"{args.novel_classes} novel classes, {args.downstream_seeds} seeds, "
                 f"{args.downstream_epochs} epochs, half of each batch generated.", "",
                 markdown_table(downstream_rows)]
    body += ["![seeds | Meta-AVAE | Meta-FAVAE](images/metafavae_grid_encoded.png)"]
    update_benchmarks_doc("metafavae", "\n".join(body))
    print(f"done in {wall / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
