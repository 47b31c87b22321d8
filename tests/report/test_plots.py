"""Each plot writes a valid PNG atomically; bad inputs are refused; matplotlib loads lazily."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from chainrule.errors import ConfigError, ShapeError  # noqa: E402
from chainrule.nn import Parameter  # noqa: E402
from chainrule.report import (  # noqa: E402
    plot_confusion_matrix,
    plot_gradient_norms,
    plot_learning_curves,
    plot_lr_finder,
    plot_samples,
    plot_weight_images,
)


def check_png(path: Path, expected: Path) -> tuple[int, int]:
    """The returned path is the requested one, holds a decodable PNG, and nothing else is left."""
    assert path == expected
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode in ("RGB", "RGBA")
        image.load()  # decodes the whole file: fails on a truncated PNG
        width, height = image.size
    assert width > 50 and height > 50
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp files left
    return width, height


def test_learning_curves_with_loss_metric_and_lr_panels(tmp_path):
    history = {
        "loss": [1.0, 0.6, 0.4],
        "val_loss": [1.1, 0.8, 0.7],
        "accuracy": [0.5, 0.7, 0.8],
        "val_accuracy": [0.45, 0.6, 0.7],
        "lr": [0.1, 0.05, 0.025],
    }
    three = check_png(plot_learning_curves(history, tmp_path / "a.png"), tmp_path / "a.png")
    (tmp_path / "a.png").unlink()
    only_loss = plot_learning_curves({"loss": [1.0, 0.5]}, tmp_path / "b.png")
    one = check_png(only_loss, tmp_path / "b.png")
    assert three[0] > 2 * one[0]  # one panel per kind of curve, side by side


def test_learning_curves_use_epoch_key_and_accept_uneven_lengths(tmp_path):
    history = {"epoch": [5, 10, 15], "loss": [1.0, 0.5, 0.2], "val_loss": [0.9]}
    check_png(plot_learning_curves(history, str(tmp_path / "c.png")), tmp_path / "c.png")


def test_learning_curves_reject_bad_history(tmp_path):
    with pytest.raises(ConfigError, match="history must be a non-empty dict of lists"):
        plot_learning_curves({}, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="history has nothing to plot besides 'epoch'"):
        plot_learning_curves({"epoch": [1, 2]}, tmp_path / "x.png")
    with pytest.raises(ShapeError, match=r"history\['loss'\] must be a non-empty 1-D list"):
        plot_learning_curves({"loss": []}, tmp_path / "x.png")


def test_path_must_end_in_png_and_missing_folders_are_created(tmp_path):
    with pytest.raises(ConfigError, match="expected a path ending in .png, got '.*curves.pdf'"):
        plot_learning_curves({"loss": [1.0]}, str(tmp_path / "curves.pdf"))
    nested = tmp_path / "plots" / "deep" / "curves.PNG"
    check_png(plot_learning_curves({"loss": [1.0]}, nested), nested)


def test_png_replaces_an_existing_file(tmp_path):
    target = tmp_path / "cm.png"
    target.write_bytes(b"old")
    check_png(plot_confusion_matrix([[1, 0], [0, 1]], target), target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("normalize", [True, False])
def test_confusion_matrix_png(tmp_path, normalize):
    cm = np.array([[5, 1, 0], [0, 4, 2], [0, 0, 0]])  # last row empty: 0/0 must not warn
    # "$x$" would be parsed as mathtext (and "$a" "$" pairs can fail to render) if not escaped.
    names = ["cat $x$", "dog <&>", "$5 $bird"]
    path = plot_confusion_matrix(cm, tmp_path / "cm.png", names, normalize)
    check_png(path, tmp_path / "cm.png")


def test_confusion_matrix_many_classes_skips_annotations(tmp_path):
    cm = np.random.default_rng(0).integers(0, 9, size=(25, 25))
    check_png(plot_confusion_matrix(cm, tmp_path / "cm.png"), tmp_path / "cm.png")


def test_confusion_matrix_rejects_bad_input(tmp_path):
    with pytest.raises(ShapeError, match=r"cm must be a square .* got \(2, 3\)"):
        plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "cm.png")
    with pytest.raises(ValueError, match="cm must hold finite non-negative counts"):
        plot_confusion_matrix([[1, -1], [0, 1]], tmp_path / "cm.png")
    with pytest.raises(ShapeError, match="class_names has 1 names but cm has 2 classes"):
        plot_confusion_matrix([[1, 0], [0, 1]], tmp_path / "cm.png", class_names=["a"])


def test_weight_images_png_from_array_and_parameter(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(5, 16)).astype(np.float32)
    path = plot_weight_images(weight, tmp_path / "w.png", image_shape=(4, 4))
    check_png(path, tmp_path / "w.png")
    path.unlink()
    many = Parameter(rng.normal(size=(100, 16)))
    wide = check_png(
        plot_weight_images(many, tmp_path / "w.png", image_shape=(4, 4), max_units=9),
        tmp_path / "w.png",
    )
    assert wide[0] < 800  # only a 3x3 grid of the first 9 units


def test_weight_images_all_zero_unit_does_not_divide_by_zero(tmp_path):
    check_png(plot_weight_images(np.zeros((2, 4)), tmp_path / "w.png", (2, 2)), tmp_path / "w.png")


def test_weight_images_reject_bad_shapes(tmp_path):
    with pytest.raises(ShapeError, match=r"shape \(hidden, 784\) .* got \(784, 10\); .* weight\.T"):
        plot_weight_images(np.zeros((784, 10)), tmp_path / "w.png")
    with pytest.raises(ShapeError, match=r"shape \(hidden, 16\) for image_shape \(4, 4\)"):
        plot_weight_images(np.zeros((3, 15)), tmp_path / "w.png", image_shape=(4, 4))
    with pytest.raises(ConfigError, match=r"image_shape must be \(height, width\)"):
        plot_weight_images(np.zeros((3, 16)), tmp_path / "w.png", image_shape=(4, 4, 1))
    with pytest.raises(ConfigError, match="max_units must be an int >= 1, got 0"):
        plot_weight_images(np.zeros((3, 16)), tmp_path / "w.png", (4, 4), max_units=0)


def test_gradient_norms_png_with_and_without_update_ratios(tmp_path):
    norms = {"fc1.weight": [1e-3, 5e-4, 2e-4], "fc2.weight": [1e-1, 5e-2, 0.0]}  # 0 -> a gap
    one = check_png(plot_gradient_norms(norms, tmp_path / "g.png"), tmp_path / "g.png")
    (tmp_path / "g.png").unlink()
    ratios = {"fc1.weight": [1e-4, 1e-4, 2e-4], "fc2.weight": [1e-3, 2e-3, 1e-3]}
    two = check_png(plot_gradient_norms(norms, tmp_path / "g.png", ratios), tmp_path / "g.png")
    assert two[0] > 1.5 * one[0]


def test_gradient_norms_all_zero_falls_back_to_linear_axis(tmp_path):
    # A log axis with no positive value would make matplotlib warn (an error in this suite).
    check_png(plot_gradient_norms({"w": [0.0, 0.0]}, tmp_path / "g.png"), tmp_path / "g.png")


def test_gradient_norms_reject_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="grad_norms must be a non-empty dict"):
        plot_gradient_norms({}, tmp_path / "g.png")
    with pytest.raises(ConfigError, match="update_ratios must be a non-empty dict"):
        plot_gradient_norms({"w": [1.0]}, tmp_path / "g.png", update_ratios=[1.0])  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"grad_norms\['w'\] must be a non-empty 1-D list"):
        plot_gradient_norms({"w": [[1.0]]}, tmp_path / "g.png")


def test_lr_finder_png(tmp_path):
    lrs = np.geomspace(1e-5, 1.0, 20)
    losses = np.concatenate([np.linspace(2.3, 0.5, 15), [0.8, 2.0, 9.0, 50.0, np.inf]])
    path = plot_lr_finder(lrs, losses, tmp_path / "lr.png", suggestion=1e-3)
    check_png(path, tmp_path / "lr.png")


def test_lr_finder_rejects_bad_input(tmp_path):
    with pytest.raises(ShapeError, match="same length, got 3 and 2"):
        plot_lr_finder([1e-3, 1e-2, 1e-1], [1.0, 0.5], tmp_path / "lr.png")
    with pytest.raises(ValueError, match="lrs must be finite and positive"):
        plot_lr_finder([0.0, 1e-2], [1.0, 0.5], tmp_path / "lr.png")
    with pytest.raises(ConfigError, match="suggestion must be a positive learning rate, got -1"):
        plot_lr_finder([1e-3, 1e-2], [1.0, 0.5], tmp_path / "lr.png", suggestion=-1)


@pytest.mark.parametrize(
    "shape", [(6, 8, 8), (6, 64), (6, 8, 8, 1), (6, 1, 8, 8), (6, 8, 8, 3), (6, 3, 8, 8)]
)
def test_samples_png_for_each_image_layout(tmp_path, shape):
    rng = np.random.default_rng(0)
    images = rng.normal(size=shape)  # RGB values outside [0, 1] are rescaled
    labels = np.arange(6)
    path = plot_samples(images, labels, tmp_path / "s.png", predictions=[0, 1, 2, 0, 4, 5])
    check_png(path, tmp_path / "s.png")


def test_samples_with_scores_class_names_and_cap(tmp_path):
    images = np.random.default_rng(0).random((20, 5, 5))
    scores = np.eye(3)[np.arange(20) % 3]
    path = plot_samples(
        images,
        np.arange(20) % 3,
        tmp_path / "s.png",
        predictions=scores,
        class_names=["zero", "one", "a rather long name"],
        max_images=4,
    )
    check_png(path, tmp_path / "s.png")


def test_samples_reject_bad_input(tmp_path):
    images = np.zeros((3, 4, 4))
    with pytest.raises(
        ShapeError, match="images and labels must have the same length, got 3 and 2"
    ):
        plot_samples(images, [0, 1], tmp_path / "s.png")
    with pytest.raises(ShapeError, match="images and predictions .* got 3 and 1"):
        plot_samples(images, [0, 1, 2], tmp_path / "s.png", predictions=[0])
    with pytest.raises(ShapeError, match="flat images of 10 pixels are not square"):
        plot_samples(np.zeros((3, 10)), [0, 1, 2], tmp_path / "s.png")
    with pytest.raises(ShapeError, match=r"images must be \(N, H, W\).*got shape \(3, 4, 4, 5\)"):
        plot_samples(np.zeros((3, 4, 4, 5)), [0, 1, 2], tmp_path / "s.png")
    with pytest.raises(ShapeError, match=r"images must be .*got shape \(3,\)"):
        plot_samples(np.zeros(3), [0, 1, 2], tmp_path / "s.png")
    with pytest.raises(ConfigError, match="max_images must be an int >= 1"):
        plot_samples(images, [0, 1, 2], tmp_path / "s.png", max_images=0)


def test_a_failed_save_leaves_no_temp_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken_savefig(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    target = tmp_path / "a.png"
    target.write_bytes(b"previous")
    with pytest.raises(OSError, match="disk full"):
        plot_learning_curves({"loss": [1.0]}, target)
    assert target.read_bytes() == b"previous"  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter (module state must not leak from this test process)."""
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    env.pop("MPLBACKEND", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env
    )


def test_importing_report_and_metrics_does_not_import_matplotlib():
    result = run_python(
        """
        import sys
        import chainrule.report, chainrule.metrics
        import chainrule.report.plots, chainrule.report.document
        assert 'matplotlib' not in sys.modules, 'matplotlib was imported'
        """
    )
    assert result.returncode == 0, result.stderr


def test_plotting_does_not_switch_the_pyplot_backend(tmp_path):
    result = run_python(
        f"""
        import matplotlib
        matplotlib.use("svg")
        from chainrule.report import plot_learning_curves
        plot_learning_curves({{"loss": [1.0, 0.5]}}, {str(tmp_path / "a.png")!r})
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        assert "matplotlib.pyplot" not in __import__("sys").modules
        """
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.png").stat().st_size > 0


def test_missing_matplotlib_gives_install_hint(tmp_path):
    result = run_python(
        f"""
        import sys
        sys.modules["matplotlib"] = None  # makes `import matplotlib...` raise ImportError
        from chainrule.errors import ConfigError
        from chainrule.report import plot_lr_finder
        try:
            plot_lr_finder([1e-3, 1e-2], [1.0, 0.5], {str(tmp_path / "lr.png")!r})
        except ConfigError as exc:
            print(exc)
        else:
            raise SystemExit("no error raised")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "plotting needs matplotlib" in result.stdout
    assert 'pip install "chainrule[plots]"' in result.stdout
    assert list(tmp_path.iterdir()) == []
