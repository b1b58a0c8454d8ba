"""The ``metaaug`` command line: subprocess runs on digits and Omniglot, exit codes, outputs.

The end-to-end flows run ``python -m metaaug`` in a subprocess with tiny
settings; the many error paths run ``metaaug.cli.main`` in-process (same code,
no interpreter start-up per case). The drawing helpers are in test_plotting.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import metaaug
from metaaug.cli import main
from metaaug.cli.commands import USES_LABELS
from metaaug.cli.errors import UsageError
from metaaug.cli.io import load_training_data, read_seeds
from metaaug.cli.parser import METHODS, coerce_like, parse_value

COMMANDS = ["demo", "fit", "sample-tasks", "generate"]
TINY_LASIUM = ["--param", "epochs=1", "--param", "hidden=8", "--param", "latent_dim=4"]
TINY_LOFGAN = [
    "--param",
    "epochs=0.05",
    "--param",
    "meta_batch_size=2",
    "--param",
    "gen_channels=(8, 8, 8)",
    "--param",
    "disc_channels=8",
    "--param",
    "disc_max_channels=16",
]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    # one thread: the tiny fits are faster on one than on two cores shared with other jobs
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "METAAUG_THREADS": "1"}
    env.pop("METAAUG_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "metaaug", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def run_in_process(*args: str) -> subprocess.CompletedProcess:
    """``metaaug ARGS`` in this process: the code path of ``run_cli`` minus interpreter start-up, output captured."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["metaaug", *args], code, out.getvalue(), err.getvalue())


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("metaaug"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


# ------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def korean_seed_files(tmp_path_factory, omniglot_root) -> Path:
    """Three drawings of one Korean character, as the dataset's own PNG files (ink dark on white)."""
    folder = tmp_path_factory.mktemp("seeds")
    with zipfile.ZipFile(Path(omniglot_root) / "images_background_small1.zip") as archive:
        members = sorted(m for m in archive.namelist() if "/Korean/character05/" in m and m.endswith(".png"))[:3]
        for member in members:
            (folder / Path(member).name).write_bytes(archive.read(member))
    assert len(list(folder.glob("*.png"))) == 3
    return folder


@pytest.fixture(scope="module")
def lofgan_on_omniglot(tmp_path_factory, omniglot_root) -> Path:
    """A tiny LoFGAN fitted through the CLI on the Tagalog alphabet, with labels."""
    path = tmp_path_factory.mktemp("models") / "lofgan.pt"
    result = run_in_process(
        "fit",
        "lofgan",
        "--data",
        str(omniglot_root),
        "--alphabets",
        "Tagalog",
        "--labels",
        "--out",
        str(path),
        "--seed",
        "0",
        "--quiet",
        *TINY_LOFGAN,
    )
    assert result.returncode == 0, result.stderr
    assert "fitted LoFGAN" in result.stdout
    assert "340 images" in result.stdout  # 17 Tagalog characters x 20 drawings
    return path


@pytest.fixture(scope="module")
def lasium_on_digits(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "lasium.pt"
    result = run_in_process(
        "fit", "lasium", "--data", "digits", "--out", str(path), "--seed", "0", "--quiet", *TINY_LASIUM
    )
    assert result.returncode == 0, result.stderr
    assert "fitted LASIUM" in result.stdout and str(path) in result.stdout
    return path


# ------------------------------------------------------------ end to end (subprocess, or in process where marked)
def test_help_for_every_command():
    top = run_cli("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        result = run_cli(command, "--help")
        assert result.returncode == 0, result.stderr
        assert f"usage: metaaug {command}" in result.stdout
    assert run_cli("--version").stdout.strip() == f"metaaug {metaaug.__version__}"


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("metaaug")
    if not script.exists():
        pytest.skip("metaaug is not installed as a console script in this environment")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "metaaug" in result.stdout


def test_fit_lasium_on_digits_then_sample_tasks(lasium_on_digits, tmp_path):
    model = metaaug.load(lasium_on_digits)
    assert type(model).__name__ == "LASIUM" and model.image_shape_ == (1, 8, 8)
    assert model.get_params()["epochs"] == 1 and model.get_params()["random_state"] == 0

    tasks_file = tmp_path / "tasks.pt"
    result = run_in_process(
        "sample-tasks",
        str(lasium_on_digits),
        "--n-tasks",
        "3",
        "--ways",
        "4",
        "--shots",
        "2",
        "--queries",
        "3",
        "--out",
        str(tasks_file),
        "--seed",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "sampled 3 tasks (4-way 2-shot, 3 queries) from LASIUM" in result.stdout
    tasks = torch.load(tasks_file, weights_only=True)
    assert tasks["support_x"].shape == (3, 8, 1, 8, 8) and tasks["query_x"].shape == (3, 12, 1, 8, 8)
    assert torch.equal(tasks["support_y"][0], torch.arange(4).repeat_interleave(2))
    assert torch.equal(tasks["query_y"][0], torch.arange(4).repeat_interleave(3))
    # the same seed gives the same tasks as the library call
    again = model.sample_tasks(3, n_ways=4, k_shot=2, k_query=3, random_state=1)
    assert torch.equal(tasks["query_x"][2], again[2].query_x)

    grid = tmp_path / "tasks.png"
    assert (
        main(
            [
                "sample-tasks",
                str(lasium_on_digits),
                "--n-tasks",
                "2",
                "--ways",
                "3",
                "--shots",
                "1",
                "--queries",
                "2",
                "--out",
                str(grid),
            ]
        )
        == 0
    )
    pixels = read_png(grid)
    assert pixels.shape[0] > 6 * 8 and pixels.shape[1] > 3 * 8


def test_fit_lofgan_on_omniglot_then_generate(lofgan_on_omniglot, korean_seed_files, tmp_path):
    model = metaaug.load(lofgan_on_omniglot)
    assert type(model).__name__ == "LoFGAN" and tuple(model.image_shape_) == (1, 28, 28)

    out_dir = tmp_path / "generated"
    result = run_in_process(
        "generate",
        str(lofgan_on_omniglot),
        "--seeds",
        str(korean_seed_files),
        "--n",
        "7",
        "--out",
        str(out_dir),
        "--seed",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert "generated 7 images of shape (1, 28, 28) from 3 seeds with LoFGAN" in result.stdout
    assert "seeds resized from 105x105 to 28x28" in result.stdout  # the dataset's files are 105 px
    assert "seeds inverted so ink is 1.0" in result.stdout
    files = sorted(out_dir.glob("*.png"))
    assert len(files) == 7
    images = np.stack([read_png(f) for f in files])
    assert images.shape == (7, 28, 28)
    # the seed files are dark ink on white: outputs are written back in that polarity
    assert images.mean() > 0.5

    grid = tmp_path / "grid.png"
    assert (
        main(
            [
                "generate",
                str(lofgan_on_omniglot),
                "--seeds",
                *map(str, sorted(korean_seed_files.iterdir())),
                "--n",
                "12",
                "--out",
                str(grid),
                "--seed",
                "0",
            ]
        )
        == 0
    )
    picture = read_png(grid)
    assert picture.shape[0] > 3 * 56  # seed row + gap + two rows of generated images, drawn at least 2x
    assert np.median(picture) > 0.9  # dark ink on white


def test_generate_is_deterministic_and_matches_the_library(lofgan_on_omniglot, korean_seed_files, tmp_path):
    model = metaaug.load(lofgan_on_omniglot)
    seeds, inverted = read_seeds([str(korean_seed_files)], (1, 28, 28), "auto")
    assert inverted and seeds.shape == (3, 1, 28, 28)
    assert seeds.mean() < 0.5  # ink is 1.0 after inversion: mostly background
    expected = model.generate(seeds, 4, random_state=3)
    for run in ("a", "b"):
        assert (
            main(
                [
                    "generate",
                    str(lofgan_on_omniglot),
                    "--seeds",
                    str(korean_seed_files),
                    "--n",
                    "4",
                    "--out",
                    str(tmp_path / run),
                    "--seed",
                    "3",
                ]
            )
            == 0
        )
    a = np.stack([read_png(f) for f in sorted((tmp_path / "a").iterdir())])
    b = np.stack([read_png(f) for f in sorted((tmp_path / "b").iterdir())])
    assert np.array_equal(a, b)
    assert np.allclose(1.0 - a, expected[:, 0].numpy(), atol=1 / 255 + 1e-6)


@pytest.mark.parametrize(
    "args, fragment",
    [
        ([], "a command is required"),
        (["fit", "nosuch", "--data", "digits", "--out", "x.pt"], "invalid choice: 'nosuch'"),
        (["fit", "lasium", "--data", "digits"], "--out"),
        (["sample-tasks", "model.pt", "--out", "x.pt", "--ways", "five"], "expected an integer from 1 to"),
        (["benchmark", "baselines"], "invalid choice: 'benchmark'"),  # benchmarks run as python -m benchmarks...
        (["generate", "/no/such/model.pt", "--seeds", ".", "--out", "o"], "no model file at /no/such/model.pt"),
        (["demo", "--data", "/no/such/folder"], "/no/such/folder"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, fragment, capsys):
    # in-process: each case is the same code path as a subprocess run, minus 5 s of interpreter start-up
    err = in_process_error(capsys, args)
    assert err.startswith("metaaug") and fragment in err, err


def test_user_error_in_a_subprocess_exits_2_with_one_line(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a model")
    assert_user_error(
        run_cli("sample-tasks", str(garbage), "--out", str(tmp_path / "t.pt")), "is not a metaaug model file"
    )


def test_unreadable_files_exit_2_with_one_line(tmp_path, lasium_on_digits, capsys):
    cases = [
        (["fit", "lasium", "--data", "/no/such/data", "--out", str(tmp_path / "m.pt")], "no such file or folder"),
        (
            ["fit", "lasium", "--data", "digits", "--out", str(tmp_path / "m.pt"), "--param", "no_such_param=1"],
            "unknown parameter(s) no_such_param",
        ),
    ]
    not_an_image = tmp_path / "seed.png"
    not_an_image.write_text("text")
    cases.append(
        (["generate", str(lasium_on_digits), "--seeds", str(not_an_image), "--out", "o"], "does not generate images")
    )
    for argv, fragment in cases:
        err = in_process_error(capsys, argv)
        assert fragment in err, err


# ------------------------------------------------------------ error paths (in-process)
def in_process_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_parameter_values_are_checked(capsys, tmp_path):
    out = str(tmp_path / "m.pt")
    assert "epochs" in in_process_error(
        capsys, ["fit", "lasium", "--data", "digits", "--out", out, "--param", "epochs=many"]
    )
    assert "expects key=value" in in_process_error(
        capsys, ["fit", "lasium", "--data", "digits", "--out", out, "--param", "epochs"]
    )
    # a value the estimator itself rejects (its ValueError) is a one-line user error too
    assert "strategy" in in_process_error(
        capsys, ["fit", "lasium", "--data", "digits", "--out", out, "--param", "strategy=XYZ", *TINY_LASIUM]
    )
    assert "--labels applies to" in in_process_error(
        capsys, ["fit", "lasium", "--data", "digits", "--out", out, "--labels"]
    )
    assert "is a folder" in in_process_error(capsys, ["fit", "lasium", "--data", "digits", "--out", str(tmp_path)])
    assert not Path(out).exists()


def test_model_kind_and_output_checks(capsys, lasium_on_digits, tmp_path):
    assert "must end in .pt" in in_process_error(
        capsys, ["sample-tasks", str(lasium_on_digits), "--out", str(tmp_path / "tasks.txt")]
    )
    assert "--arg" in in_process_error(
        capsys, ["sample-tasks", str(lasium_on_digits), "--out", str(tmp_path / "t.pt"), "--arg", "bogus=1"]
    )
    assert "--ways: must be from 1 to" in in_process_error(
        capsys, ["sample-tasks", str(lasium_on_digits), "--out", str(tmp_path / "t.pt"), "--ways", "0"]
    )


def test_generate_checks_seeds_and_n(capsys, lofgan_on_omniglot, korean_seed_files, tmp_path):
    model = str(lofgan_on_omniglot)
    assert "--n: must be from 1 to" in in_process_error(
        capsys, ["generate", model, "--seeds", str(korean_seed_files), "--n", "0", "--out", str(tmp_path)]
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no image files" in in_process_error(capsys, ["generate", model, "--seeds", str(empty), "--out", "o"])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG broken")
    assert "cannot read image" in in_process_error(capsys, ["generate", model, "--seeds", str(broken), "--out", "o"])
    assert "sample tasks" in in_process_error(capsys, ["sample-tasks", model, "--out", str(tmp_path / "t.pt")])


def test_training_data_sources(tmp_path, digits):
    X, y = digits
    # an array file with labels
    np.savez(tmp_path / "data.npz", X=(X[:20, 0].numpy() * 255).astype(np.uint8), y=y[:20].numpy())
    X2, y2, text = load_training_data(str(tmp_path / "data.npz"), None, None)
    assert X2.shape == (20, 1, 8, 8) and torch.equal(y2, y[:20]) and "20 images" in text
    # a folder with one subfolder per class, resized
    for label in (0, 1):
        folder = tmp_path / "classes" / f"class_{label}"
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray((X[y == label][i, 0].numpy() * 255).astype(np.uint8)).save(folder / f"{i}.png")
    X3, y3, text = load_training_data(str(tmp_path / "classes"), 16, None)
    assert X3.shape == (6, 1, 16, 16) and y3.tolist() == [0, 0, 0, 1, 1, 1] and "2 classes" in text
    # digits resized
    X4, _, _ = load_training_data("digits", 12, None)
    assert X4.shape == (1797, 1, 12, 12) and 0 <= float(X4.min()) and float(X4.max()) <= 1
    with pytest.raises(UsageError, match="no images found"):
        (tmp_path / "nothing").mkdir()
        load_training_data(str(tmp_path / "nothing"), None, None)
    with pytest.raises(UsageError, match="--alphabets applies to Omniglot"):
        load_training_data("digits", None, "Korean")


def test_omniglot_alphabet_presets(omniglot_root):
    X, y, text = load_training_data(str(omniglot_root), None, "dev-test")
    assert X.shape == (1140, 1, 28, 28) and int(y.max()) + 1 == 57
    with pytest.raises(ValueError, match="unknown alphabet"):
        load_training_data(str(omniglot_root), None, "Klingon")


def test_parse_value_and_coercion():
    assert parse_value("3") == 3 and parse_value("1e-3") == 1e-3
    assert parse_value("(8, 8)") == (8, 8) and parse_value("gan") == "gan"
    assert parse_value("None") is None and parse_value("true") is True
    assert coerce_like("epochs", 2.0, 5) == 2 and isinstance(coerce_like("lr", 1, 0.1), float)
    with pytest.raises(UsageError, match="true or false"):
        coerce_like("verbose", 1, False)


def test_demo_dispatches_to_run_demo(monkeypatch, capsys):
    calls = {}

    def fake_run_demo(data=None, quick=False, random_state=0, out_dir=None):
        calls.update(data=data, quick=quick, random_state=random_state)
        print("| method | accuracy |")
        return "| method | accuracy |"

    module = type(sys)("metaaug.demo")
    module.run_demo = fake_run_demo
    monkeypatch.setitem(sys.modules, "metaaug.demo", module)
    assert main(["demo", "--quick"]) == 0
    assert calls == {"data": None, "quick": True, "random_state": 0}
    assert capsys.readouterr().out.count("| method | accuracy |") == 1
    assert main(["demo", "--seed", "7"]) == 0
    assert calls == {"data": None, "quick": False, "random_state": 7}


def test_every_fit_method_is_a_public_name():
    assert set(METHODS.values()) <= set(metaaug._PUBLIC)
    assert set(USES_LABELS) <= set(METHODS)


def test_the_package_runs_only_under_main():
    """Importing metaaug.__main__ (e.g. by a documentation tool) runs nothing."""
    result = subprocess.run(
        [sys.executable, "-c", "import metaaug.__main__"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


# ------------------------------------------------- arguments checked before any work
def in_process(capsys, args):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, [line for line in captured.err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--param", "backend=vae", "--param", "lr=abc"], "parameter lr expects a number, got 'abc'"),
        (["--param", "backend=vae", "--param", "beta=abc"], "parameter beta expects a number, got 'abc'"),
        (["--param", "max_time=abc"], "parameter max_time expects a number, got 'abc'"),
        (["--param", "lr=inf"], "lr must be None or a finite number"),
        (["--image-size", "0"], "--image-size: must be from 2 to 1024, got 0"),
        (["--image-size", "100000"], "--image-size: must be from 2 to 1024, got 100000"),
    ],
)
def test_fit_refuses_bad_values_before_reading_data(extra, fragment, tmp_path, capsys):
    code, out, err = in_process(capsys, ["fit", "lasium", "--data", "digits", "--out", str(tmp_path / "m.pt"), *extra])
    assert code == 2 and len(err) == 1 and fragment in err[0], err
    assert "loading" not in out and not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["sample-tasks", "m.pt", "--n-tasks", "1000000000", "--out", "t.pt"], "--n-tasks: must be from 1 to 100000"),
        (["sample-tasks", "m.pt", "--ways", "0", "--out", "t.pt"], "--ways: must be from 1 to 1000"),
        (["generate", "m.pt", "--seeds", "s", "--n", "1000000000", "--out", "g.png"], "--n: must be from 1 to 100000"),
        (["generate", "m.pt", "--seeds", "s", "--n", "0", "--out", "g.png"], "--n: must be from 1 to 100000, got 0"),
    ],
)
def test_huge_or_empty_requests_are_refused_up_front(args, fragment, capsys):
    code, _, err = in_process(capsys, args)
    assert code == 2 and len(err) == 1 and fragment in err[0], err


def test_output_limit_counts_bytes():
    from metaaug.cli.commands import check_output_size

    check_output_size(100_000, (1, 28, 28), "--n")
    with pytest.raises(UsageError, match="more than the 4 GiB limit"):
        check_output_size(100_000, (3, 1024, 1024), "--n")


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a /sys that refuses new files")
def test_unwritable_out_is_refused_before_training(capsys):
    code, out, err = in_process(capsys, ["fit", "lasium", "--data", "digits", "--out", "/sys/m.pt"])
    assert code == 2 and len(err) == 1 and "--out /sys/m.pt cannot be written" in err[0], err
    assert "loading" not in out


def test_unwritable_generate_and_demo_outputs(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = in_process(capsys, ["generate", "m.pt", "--seeds", "s", "--out", str(blocker)])
    assert code == 2 and "exists and is not a folder" in err[0], err
    code, _, err = in_process(capsys, ["demo", "--out-dir", str(blocker / "sub")])
    assert code == 2 and len(err) == 1 and "--out-dir" in err[0], err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write read-only files")
def test_read_only_out_file_is_refused(tmp_path, capsys):
    out = tmp_path / "m.pt"
    out.write_bytes(b"")
    out.chmod(0o444)
    code, _, err = in_process(capsys, ["fit", "lasium", "--data", "digits", "--out", str(out)])
    assert code == 2 and "cannot be written" in err[0], err


def test_string_for_a_numeric_generate_argument():
    from metaaug.cli.parser import call_kwargs

    with pytest.raises(UsageError, match="parameter alpha expects a number, got 'abc'"):
        call_kwargs(metaaug.AE.generate, {"alpha": "abc"}, "--arg")
    assert call_kwargs(metaaug.AE.generate, {"alpha": 0.5}, "--arg") == {"alpha": 0.5}


def test_fit_writes_the_loss_curve_and_says_when_it_inverts(tmp_path, capsys):
    """Dark-on-light images are inverted (and the output says so); the loss curve lands next to the model."""
    from metaaug.data import load_digits

    X, _ = load_digits()
    np.save(tmp_path / "light.npy", (1.0 - X[:60, 0]).numpy())
    out = tmp_path / "ae.pt"
    args = ["fit", "ae", "--data", str(tmp_path / "light.npy"), "--out", str(out), "--quiet"]
    code, stdout, err = in_process(capsys, [*args, "--param", "epochs=1", "--param", "hidden=4"])
    assert code == 0, err
    assert "inverted the images so ink is 1.0" in stdout
    curve = tmp_path / "ae.loss.png"
    assert curve.is_file() and f"-> {curve}" in stdout
    with Image.open(curve) as image:
        assert image.width > image.height > 100
    assert metaaug.load(out).loss_curve_.size > 0


def test_fit_few_shot_classifiers_on_labels_or_on_a_fitted_sampler(lasium_on_digits, tmp_path):
    small = ["--param", "n_iterations=2", "--param", "hidden=8", "--quiet", "--no-plot", "--seed", "0"]
    result = run_in_process("fit", "protonet", "--data", "digits", "--out", str(tmp_path / "p.pt"), *small)
    assert result.returncode == 0, result.stderr
    assert "fitted ProtoNetClassifier" in result.stdout and metaaug.load(tmp_path / "p.pt").n_iter_ == 2
    result = run_in_process(
        "fit", "maml", "--tasks-from", str(lasium_on_digits), "--out", str(tmp_path / "m.pt"), *small
    )
    assert result.returncode == 0, result.stderr
    assert f"on tasks from {lasium_on_digits} (LASIUM)" in result.stdout
    unlabeled = tmp_path / "images.npy"
    np.save(unlabeled, np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32))
    for args, fragment in [
        (["fit", "lasium", "--tasks-from", str(lasium_on_digits)], "--tasks-from applies to maml and protonet"),
        (["fit", "protonet"], "needs either labeled --data or --tasks-from"),
        (["fit", "protonet", "--data", "digits", "--tasks-from", str(lasium_on_digits)], "not both"),
        (["fit", "protonet", "--data", str(unlabeled)], "has no labels"),
        (["fit", "maml", "--tasks-from", str(tmp_path / "p.pt")], "not a task sampler"),
    ]:
        assert_user_error(run_in_process(*args, "--out", str(tmp_path / "x.pt")), fragment)
