"""Real images at real size: peak memory and task speed on a mini-ImageNet-sized image folder.

Writes (once) a synthetic ImageFolder with mini-ImageNet's training-split size,
64 classes x 600 JPEG images of 84x84x3 (coloured shapes and noise; no real
colour dataset is available offline), then measures, each in a fresh process
so that its peak RSS is its own:

* building a ``LabeledTaskSampler`` from the folder (read lazily) and from the
  images decoded once into a uint8 ``.npy`` file (loaded into memory);
* ``ProtoNetClassifier.evaluate`` on 1000 5-way 1-shot 15-query tasks streamed
  with ``iter_tasks`` from the in-memory sampler (and from the folder);
* tasks per second at 1, 100 and 2,000 tasks per call, at 84x84x3 and at
  28x28x1, for ``LabeledTaskSampler`` and learn2learn's ``TaskDataset`` (NWays,
  KShots, LoadData, RemapLabels over a ``TensorDataset``) on the same images,
  on a quiet machine and with another CPU-bound job running.

Targets (issue 17): peak RSS at most the uint8 size of the images plus 1 GB;
no drop in tasks/s at large calls, also under load; at 28x28 at least 10x
learn2learn at every call size.

    python -m benchmarks.speed.scale --root /tmp/metaaug_scale [--update-docs]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._harness.l2l_baseline import learn2learn_taskset
from benchmarks._harness.reporting import markdown_table, publish_section, section_text

N_CLASSES, PER_CLASS, SIZE = 64, 600, 84


def write_folder(root: Path) -> Path:
    """The synthetic ImageFolder (skipped when complete)."""
    from PIL import Image

    folder = root / "train"
    if (folder / f"class_{N_CLASSES - 1:02d}" / f"{PER_CLASS - 1:04d}.jpg").exists():
        return folder
    rng = np.random.default_rng(0)
    for c in range(N_CLASSES):
        target = folder / f"class_{c:02d}"
        target.mkdir(parents=True, exist_ok=True)
        colour = rng.integers(0, 256, 3)
        for i in range(PER_CLASS):
            image = rng.integers(0, 80, (SIZE, SIZE, 3)).astype(np.uint8)
            top, left = rng.integers(0, SIZE - 30, 2)
            image[top : top + 30, left : left + 30] = np.clip(colour + rng.integers(-20, 20, 3), 0, 255)
            Image.fromarray(image).save(target / f"{i:04d}.jpg", quality=90)
    return folder


def decoded_arrays(root: Path, folder: Path) -> tuple[Path, Path]:
    """The folder decoded once into ``images.npy`` (uint8, N x 3 x 84 x 84) and ``labels.npy``."""
    images_path, labels_path = root / "images.npy", root / "labels.npy"
    if not images_path.exists():
        from metaaug.data.sources import as_image_source

        source = as_image_source(folder, num_workers=2)
        np.save(labels_path, source.labels.numpy())
        np.save(images_path, source.stored().numpy())
    return images_path, labels_path


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ``ru_maxrss`` it does not carry the parent's peak over
    ``exec``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- child parts
def part_build(args: argparse.Namespace) -> dict:
    from metaaug.data import LabeledTaskSampler

    start = time.perf_counter()
    if args.source == "folder":
        sampler = LabeledTaskSampler(args.folder)
    else:
        sampler = LabeledTaskSampler(np.load(args.images), np.load(args.labels))
    return {"seconds": time.perf_counter() - start, "classes": sampler.n_classes}


def part_evaluate(args: argparse.Namespace) -> dict:
    from metaaug import ProtoNetClassifier
    from metaaug.data import LabeledTaskSampler

    if args.source == "folder":
        sampler = LabeledTaskSampler(args.folder)
        sampler.X.num_workers = 2  # type: ignore[attr-defined]
    else:
        sampler = LabeledTaskSampler(np.load(args.images), np.load(args.labels))
    # one tiny training step, so that the peak memory measured is the sampler's and the evaluation's
    clf = ProtoNetClassifier(
        n_iterations=1, n_ways=5, k_shot=1, k_query=1, meta_batch_size=1, verbose=False, random_state=0
    )
    clf.fit(sampler)
    before = peak_rss_mb()
    start = time.perf_counter()
    tasks = sampler.iter_tasks(args.tasks, n_ways=5, k_shot=1, k_query=15, random_state=1, batch_size=32)
    mean, ci = clf.evaluate(tasks)
    return {"seconds": time.perf_counter() - start, "rss_before_mb": before, "accuracy": mean, "ci95": ci}


def _grey28(images: np.ndarray) -> torch.Tensor:
    """The 84x84x3 images as 28x28 grey uint8 (every third pixel of the mean channel)."""
    return torch.from_numpy(images[:, :, ::3, ::3].mean(axis=1).astype(np.uint8)).unsqueeze(1)


def part_speed(args: argparse.Namespace) -> dict:
    from metaaug.data import LabeledTaskSampler

    torch.set_num_threads(1)
    images = torch.from_numpy(np.load(args.images))
    labels = torch.from_numpy(np.load(args.labels))
    if args.size == 28:
        images = _grey28(images.numpy())
    sampler = LabeledTaskSampler(images, labels)
    results: dict[str, float] = {}
    for per_call in (1, 100, 2000):
        total = max(2000, 2 * per_call)
        start = time.perf_counter()
        done, seed = 0, 0
        while done < total:
            if args.size == 84 and per_call == 2000:  # 2,000 tasks of 84x84x3 are 13 GB as a list: stream them
                for _ in sampler.iter_tasks(per_call, n_ways=5, k_shot=1, k_query=15, random_state=seed):
                    done += 1
            else:
                done += len(sampler.sample_tasks(per_call, n_ways=5, k_shot=1, k_query=15, random_state=seed))
            seed += 1
        results[f"metaaug_{per_call}"] = done / (time.perf_counter() - start)

    taskset = learn2learn_taskset(images, labels)
    n = 300
    start = time.perf_counter()
    for _ in range(n):
        x, _ = taskset.sample()
        x.float().div_(255.0)  # to float in [0, 1], as metaaug's tasks are
    results["learn2learn"] = n / (time.perf_counter() - start)
    return results


PARTS = {"build": part_build, "evaluate": part_evaluate, "speed": part_speed}


def run_part(args: argparse.Namespace, part: str, **extra: object) -> dict:
    """Run one part in a fresh interpreter; returns its results with its peak RSS and wall time."""
    command = [sys.executable, "-m", "benchmarks.speed.scale", "--part", part, "--root", str(args.root)]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    print(part, extra, result, flush=True)
    return result


def burn(seconds: float) -> None:
    """Another CPU-bound job: matrix products on one thread."""
    torch.set_num_threads(1)
    a = torch.randn(512, 512)
    end = time.time() + seconds
    while time.time() < end:
        a = (a @ a).clamp_(-1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/metaaug_scale"))
    parser.add_argument("--tasks", type=int, default=1000, help="evaluation tasks")
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--source", choices=("folder", "array"), default="array", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=84, help=argparse.SUPPRESS)
    parser.add_argument("--skip-folder-evaluate", action="store_true", help="skip evaluating straight from JPEGs")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args()
    args.folder = args.root / "train"
    args.images, args.labels = args.root / "images.npy", args.root / "labels.npy"
    if args.part:
        print(json.dumps({**PARTS[args.part](args), "peak_rss_mb": peak_rss_mb()}))
        return

    start = time.perf_counter()
    t0 = time.perf_counter()
    folder = write_folder(args.root)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded_arrays(args.root, folder)
    decode_s = time.perf_counter() - t0
    uint8_mb = N_CLASSES * PER_CLASS * 3 * SIZE * SIZE / 2**20
    rows = []
    for source in ("folder", "array"):
        r = run_part(args, "build", source=source)
        rows.append(
            {
                "step": f"build LabeledTaskSampler ({source})",
                "seconds": f"{r['seconds']:.1f}",
                "peak RSS (MB)": f"{r['peak_rss_mb']:.0f}",
                "result": f"{r['classes']} classes",
            }
        )
    sources = ("array",) if args.skip_folder_evaluate else ("array", "folder")
    for source in sources:
        r = run_part(args, "evaluate", source=source, tasks=args.tasks)
        rows.append(
            {
                "step": f"evaluate ProtoNet, {args.tasks} tasks 5-way 1-shot 15-query ({source})",
                "seconds": f"{r['seconds']:.1f}",
                "peak RSS (MB)": f"{r['peak_rss_mb']:.0f}",
                "result": f"{100 * r['accuracy']:.1f} ± {100 * r['ci95']:.1f}% (untrained-ish conv4)",
            }
        )
    speed_rows = []
    for size in (84, 28):
        for load in ("quiet", "one other job"):
            burner = None
            if load != "quiet":
                burner = multiprocessing.get_context("spawn").Process(target=burn, args=(3600,), daemon=True)
                burner.start()
            try:
                r = run_part(args, "speed", size=size)
            finally:
                if burner is not None:
                    burner.terminate()
            speed_rows.append(
                {
                    "images": "84x84x3" if size == 84 else "28x28x1",
                    "machine": load,
                    **{f"{n} per call": f"{r[f'metaaug_{n}']:.0f}" for n in (1, 100, 2000)},
                    "learn2learn": f"{r['learn2learn']:.0f}",
                    "min ratio": f"{min(r[f'metaaug_{n}'] for n in (1, 100, 2000)) / r['learn2learn']:.1f}x",
                }
            )
    wall = time.perf_counter() - start
    body = section_text(
        "Real images at real size (scale)",
        f"{wall / 60:.1f} min (writing the folder {write_s:.0f} s and decoding it once {decode_s:.0f} s, "
        "when not cached)",
        f"Synthetic ImageFolder: {N_CLASSES} classes x {PER_CLASS} JPEG images of {SIZE}x{SIZE}x3 (coloured "
        f"squares on noise, since no colour dataset is available offline); the uint8 images take {uint8_mb:.0f} MB. "
        "Each step runs in a fresh process; peak RSS is that process's maximum resident set, interpreter and "
        "torch included (about 300-400 MB before any data).",
        markdown_table(rows),
        "Tasks per second (5-way 1-shot 15-query, one thread, median of one run). metaaug: `sample_tasks` "
        "returning a list, except 2,000 tasks of 84x84x3 (13 GB as floats), drawn with `iter_tasks`. "
        "learn2learn: `TaskDataset` with NWays, KShots, LoadData and RemapLabels over a uint8 `TensorDataset`, "
        'one task per call, converted to float. "One other job": a one-thread matrix-product loop in another '
        "process.",
        markdown_table(speed_rows),
    )
    publish_section("scale", body, args.update_docs)


if __name__ == "__main__":
    main()
