"""Time one LoFGAN training step (one discriminator + one generator update) on the CPU.

Two measurements, run one after the other in the same process:

* ``paper``: the ``paper`` preset at the official batch (8 tasks of 3 RGB
  images) and 64 px, with metaaug's step and, side by side, the same networks
  driven with the official code's schedule of work (re-implemented here: three
  backward passes in the discriminator update, the unused discriminator pass
  on the real images and the discriminator weight gradients in the generator
  update). The official step itself was measured separately at about
  47-55 s on 2 threads (anomaly detection off); the ratio to that reference is
  reported too.
* ``small`` (with ``--small-steps N``): ``LoFGAN()`` defaults (small preset)
  on the Omniglot dev split, timing ``N`` full training steps (1000 for the target).

Run with the machine to itself (the paper-preset target is stated on 2 threads),
e.g.::

    OMP_NUM_THREADS=2 python -m benchmarks.speed.lofgan_step --steps 2 --official-steps 1 --threads 2
    OMP_NUM_THREADS=1 python -m benchmarks.speed.lofgan_step --steps 0 --small-steps 50 --threads 1

``--small-steps N`` with N < 1000 extrapolates linearly to 1000 steps (the
step cost is constant: fixed batch, fixed networks).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import markdown_table, provenance, publish_section, section_text
from benchmarks.tables._shared import env_threads
from metaaug import LoFGAN
from metaaug.generators.lofgan_training import lofgan_train_step
from metaaug.nets.lofgan import (
    LoFGANDiscriminator,
    LoFGANGenerator,
    draw_fusion_plan,
    kaiming_init,
    local_fusion_target,
    preset_config,
)

OFFICIAL_REFERENCE_S = (47.0, 55.0)


def official_schedule_step(
    gen, disc, gen_opt, disc_opt, seeds, classes, eta, lambda_cls=1.0, lambda_local=0.5, lambda_gp=10.0
) -> None:
    """The same losses, computed with the official code's order of work (for timing only)."""
    n_tasks, k = seeds.shape[:2]
    grid = gen.feature_grid(seeds.shape[-2:])
    real = seeds.reshape(n_tasks * k, *seeds.shape[2:]).detach().requires_grad_(True)
    real_classes = classes.repeat_interleave(k)
    disc_opt.zero_grad()
    adv_real, class_real = disc(real)
    F.relu(1.0 - adv_real).mean().backward(retain_graph=True)
    true_logit = class_real.gather(1, real_classes.unsqueeze(1)).mean()
    (grad_real,) = torch.autograd.grad(true_logit, real, create_graph=True, retain_graph=True)
    (lambda_gp * grad_real.pow(2).sum() / len(real)).backward(retain_graph=True)
    (lambda_cls * F.cross_entropy(class_real, real_classes)).backward()
    with torch.no_grad():
        fake = gen(seeds, draw_fusion_plan(n_tasks, k, grid[0] * grid[1], eta))[0]
    adv_fake, _ = disc(fake.detach())
    F.relu(1.0 + adv_fake).mean().backward()
    disc_opt.step()

    gen_opt.zero_grad()
    plan = draw_fusion_plan(n_tasks, k, grid[0] * grid[1], eta)
    fake, ref_positions = gen(seeds, plan)
    target = local_fusion_target(seeds, grid, plan, ref_positions)
    loss_local = F.l1_loss(F.interpolate(fake, size=grid, mode="nearest"), target)
    disc(real.detach())  # computed and never used, as in the official generator update
    adv_fake, class_fake = disc(fake)
    loss = -adv_fake.mean() + lambda_cls * F.cross_entropy(class_fake, classes) + lambda_local * loss_local
    loss.backward()  # also fills the discriminator's gradients, zeroed at its next update
    gen_opt.step()


def time_steps(step_fn, n_steps: int, warm_up: bool = True) -> tuple[float, float]:
    """Mean wall and CPU seconds per step (after one untimed warm-up step if ``warm_up``)."""
    if warm_up:
        step_fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n_steps):
        step_fn()
    return (time.perf_counter() - wall) / n_steps, (time.process_time() - cpu) / n_steps


def bench_paper(n_steps: int, official_steps: int, size: int, n_classes: int) -> list[dict]:
    config = preset_config("paper")
    torch.manual_seed(0)
    gen = LoFGANGenerator(3, config["gen_channels"])
    disc = LoFGANDiscriminator(
        3, n_classes, config["disc_channels"], config["disc_blocks"], config["disc_max_channels"]
    )
    kaiming_init(gen)
    kaiming_init(disc)
    gen_opt = torch.optim.Adam(gen.parameters(), lr=1e-4, weight_decay=1e-4)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=1e-4, weight_decay=1e-4)
    seeds = torch.rand(8, 3, 3, size, size) * 2 - 1
    classes = torch.randint(n_classes, (8,))
    rows = []
    # one warm-up (allocator, kernels) serves both variants: same networks, same shapes
    variants = (
        ("metaaug step", lofgan_train_step, n_steps, True),
        ("official schedule, same networks", official_schedule_step, official_steps, False),
    )
    for name, fn, steps, warm_up in variants:
        if steps <= 0:
            continue
        wall, cpu = time_steps(lambda fn=fn: fn(gen, disc, gen_opt, disc_opt, seeds, classes, 0.5), steps, warm_up)
        rows.append({"step": name, "timed steps": steps, "wall s/step": wall, "CPU s/step": cpu})
        print(f"{name}: {wall:.2f} s/step wall, {cpu:.2f} CPU s/step", flush=True)
    return rows


def bench_small(n_steps: int) -> dict:
    (X, y), _ = load_dev_split()
    # epochs chosen so that ceil(epochs * n_images / 8) == n_steps
    model = LoFGAN(random_state=0, device="cpu", epochs=(n_steps - 0.5) * 8 / len(X))
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"small preset: {model.n_iter_} steps in {wall:.1f} s wall, {cpu:.1f} CPU s", flush=True)
    return {"steps": model.n_iter_, "wall s": wall, "CPU s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2, help="timed metaaug paper-preset steps (0: skip)")
    parser.add_argument(
        "--official-steps", type=int, default=1, help="timed steps of the official schedule (0: skip the side-by-side)"
    )
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n-classes", type=int, default=85, help="class head size (official flowers: 85)")
    parser.add_argument("--threads", type=int, default=env_threads(2))
    parser.add_argument("--small-steps", type=int, default=0, help="time this many small-preset steps (0: skip)")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.autograd.set_detect_anomaly(False)
    if args.small_steps > 0:
        start = time.perf_counter()
        small = bench_small(args.small_steps)
        per_1000 = small["CPU s"] / small["steps"] * 1000
        text = section_text(
            "LoFGAN small preset: training speed",
            f"{time.perf_counter() - start:.0f} s (whole run)",
            f"`LoFGAN()` defaults (small preset) on the dev split (3700 images, 28 px, labels), "
            f"{args.threads} thread(s): {small['steps']} steps in {small['wall s']:.1f} s wall, "
            f"{small['CPU s']:.1f} CPU s, i.e. {small['CPU s'] / small['steps']:.3f} CPU s/step"
            + (
                ""
                if small["steps"] >= 1000
                else f"; extrapolated linearly (constant batch and networks) to 1000 steps: "
                f"**{per_1000:.0f} CPU s = {per_1000 / 60:.1f} CPU-minutes**"
            )
            + " (target: 1000 steps <= 5 CPU-minutes).",
            note=f"{args.threads} thread(s), on a machine shared with other jobs",
        )
        publish_section("lofgan-small-steps", text, write=not args.no_doc)
    if args.steps <= 0:
        return
    start = time.perf_counter()
    rows = bench_paper(args.steps, args.official_steps, args.size, args.n_classes)
    ours = rows[0]["wall s/step"]
    total = time.perf_counter() - start

    reference = float(np.mean(OFFICIAL_REFERENCE_S))
    table = markdown_table([{k: (f"{v:.2f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows])
    body = [
        "## LoFGAN training step (paper preset, CPU)",
        "",
        *provenance(f"{total:.0f} s (whole run)", note=f"nothing else heavy running, {args.threads} threads"),
        "",
        f"`paper` preset, 8 tasks x 3 RGB images, {args.size} px, {args.n_classes} classes, "
        f"{args.threads} threads, anomaly detection off, one untimed warm-up step, then the mean of the "
        "timed steps:",
        "",
        table,
    ]
    if len(rows) > 1:
        body.append(f"Ratio metaaug / official schedule measured here: **{ours / rows[1]['wall s/step']:.2f}x**.  ")
    body.append(
        f"Ratio metaaug / official code, the official code measured separately "
        f"({OFFICIAL_REFERENCE_S[0]:.0f}-{OFFICIAL_REFERENCE_S[1]:.0f} s, 2 threads): "
        f"**{ours / OFFICIAL_REFERENCE_S[1]:.2f}-{ours / OFFICIAL_REFERENCE_S[0]:.2f}x** "
        f"({ours / reference:.2f}x of the midpoint; target <= 0.7x)."
    )
    text = "\n".join(body)
    publish_section("lofgan-step", text, write=not args.no_doc)


if __name__ == "__main__":
    main()
