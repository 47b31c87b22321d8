"""The audio path of the command line: ``train --audio-dir``, and WAV input to evaluate/predict.

A model trained on audio stores ``preprocessing = {"kind": "audio", "features": {...},
"max_frames": T}``: the ``FeatureSettings`` (with the training set's statistics for global
normalisation) and the frame count inputs were cropped to, so ``evaluate`` and ``predict``
extract features exactly as training did.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.common import Dataset
from chainrule.errors import ConfigError, FormatError

__all__ = [
    "AUDIO_ARCH_DEFAULT", "MAX_DEFAULT_SECONDS", "TEST_FRACTION",
    "load_audio_dataset", "build_audio_model", "is_audio", "audio_inputs", "audio_folder_data",
]  # fmt: skip

AUDIO_ARCH_DEFAULT = "gru"
#: Without ``--duration``, utterances are cropped to the longest one, at most this long.
MAX_DEFAULT_SECONDS = 10.0
#: Without train/ and test/ subfolders, this fraction of the file names is held out.
TEST_FRACTION = 0.2


def is_audio(pre: dict[str, Any] | None) -> bool:
    """Whether a model's preprocessing says it reads audio."""
    return isinstance(pre, dict) and pre.get("kind") == "audio"


def _settings(config: Any) -> Any:
    from chainrule.data.audio import FeatureSettings

    return FeatureSettings(
        sample_rate=config.sample_rate,
        n_mels=config.n_mels,
        duration=config.duration,
        normalization="global",
    )


def _split_by_name(names: list[str], fraction: float, seed: int) -> np.ndarray:
    """Test mask: a ``fraction`` of the distinct file names (the same name in two class
    folders, e.g. the same prompt in two languages, stays on one side)."""
    unique = sorted(set(names))
    if len(unique) < 2:
        raise FormatError("an audio folder needs at least 2 distinct file names to hold some out")
    order = np.random.default_rng([seed, 17]).permutation(len(unique))
    held = {unique[i] for i in order[: max(1, round(fraction * len(unique)))]}
    return np.array([n in held for n in names])


def load_audio_dataset(config: Any, quiet: bool = False) -> tuple[Dataset, dict[str, Any]]:
    """The data set of ``train --audio-dir`` and the preprocessing the model file keeps.

    ``DIR/train/<class>/*.wav`` and ``DIR/test/<class>/*.wav`` are used as given; otherwise
    ``DIR/<class>/*.wav`` is split, ``TEST_FRACTION`` of the file names held out.
    """
    from chainrule.data.audio import load_audio_folder

    root = Path(config.audio_dir)
    settings = _settings(config)
    progress = None if not quiet else False
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = load_audio_folder(root / "train", settings, progress)
        test = load_audio_folder(root / "test", settings, progress, class_names=train.class_names)
        split = "train/ and test/ folders"
        features, labels = (
            train.features + test.features,
            np.concatenate([train.labels, test.labels]),
        )
        is_test = np.arange(len(features)) >= len(train.features)
        names = train.class_names
    else:
        data = load_audio_folder(root, settings, progress)
        is_test = _split_by_name(data.names, TEST_FRACTION, config.seed)
        split = f"{TEST_FRACTION:.0%} of the file names held out (seed {config.seed})"
        features, labels, names = data.features, data.labels, data.class_names
    fitted = settings.fit_global([f for f, t in zip(features, is_test) if not t])
    features = [fitted.normalize(f) for f in features]
    max_frames = fitted.max_frames
    if max_frames is None:
        longest = max(len(f) for f in features)
        cap = 1 + int(MAX_DEFAULT_SECONDS * fitted.sample_rate) // fitted.hop
        max_frames = min(longest, cap)
        if longest > cap and not quiet:
            print(
                f"chainrule train: utterances cropped to {MAX_DEFAULT_SECONDS:g} s (the longest "
                f"is {longest * fitted.hop / fitted.sample_rate:.1f} s); set --duration",
                file=sys.stderr,
            )
    from chainrule.data.audio import pad_frames

    x, _ = pad_frames(features, max_frames)
    dataset = Dataset(
        root.resolve().name or "audio",
        x[~is_test],
        labels[~is_test],
        x[is_test],
        labels[is_test],
        None,
        list(names),
        {"kind": "audio", "path": str(root.resolve()), "split": split},
        "audio",
    )
    pre = {"kind": "audio", "features": fitted.to_dict(), "max_frames": int(max_frames)}
    return dataset, pre


def build_audio_model(config: Any, data: Dataset) -> Any:
    """The ``AudioClassifier`` a run's settings describe: one recurrent layer (or, for conv1d,
    one convolution block; at least 2) per ``--hidden`` entry, all of the first size, or the
    pooled dense baseline."""
    from chainrule import nn

    if len(set(config.hidden)) > 1:
        raise ConfigError(
            f"--hidden {' '.join(map(str, config.hidden))}: the layers of an audio model "
            "share one size; give it once per layer, e.g. --hidden 64 64"
        )
    arch = config.arch or AUDIO_ARCH_DEFAULT
    layers = {"dense": 1, "conv1d": max(2, len(config.hidden))}.get(arch, len(config.hidden))
    return nn.AudioClassifier(
        int(data.x_train.shape[2]),
        data.n_classes,
        hidden=config.hidden[0],
        arch=arch,
        layers=layers,
        dropout=config.dropout,
        rng=config.seed,
    )


def _model_settings(pre: dict[str, Any]) -> Any:
    from chainrule.data.audio import FeatureSettings

    return FeatureSettings.from_dict(pre["features"])


def audio_inputs(paths: list[Path], pre: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Features of WAV files and of every WAV file inside folders, padded as in training."""
    from chainrule.data.audio import pad_frames

    settings = _model_settings(pre)
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*.wav") if f.is_file() and not f.name.startswith(".")
            )
            if not found:
                raise FormatError(f"{p}: no .wav files in this folder")
            files.extend(found)
        else:
            if p.suffix.lower() != ".wav":
                raise ConfigError(f"{p}: this model reads audio; give .wav files or folders")
            files.append(p)
    feats = [settings.extract_file(f) for f in files]
    x, _ = pad_frames(feats, int(pre["max_frames"]))
    return x, [str(f) for f in files]


def audio_folder_data(
    folder: Path, pre: dict[str, Any], class_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a class folder (its ``test/`` part if it has train/ and test/),
    labels numbered as the model's classes."""
    from chainrule.data.audio import load_audio_folder

    if (folder / "train").is_dir() and (folder / "test").is_dir():
        folder = folder / "test"
    data = load_audio_folder(folder, _model_settings(pre), class_names=class_names)
    x, _ = data.padded(int(pre["max_frames"]))
    return x, data.labels
