"""A folder with one subfolder per class of ``.wav`` files, turned into features and labels.

The layout of Keras's ``audio_dataset_from_directory``: ``root/yes/a.wav``, ``root/no/b.wav``,
... Classes are the subfolder names in sorted order; files are found recursively and read in
sorted order; hidden files and other extensions are skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.audio.batching import pad_frames
from chainrule.data.audio.extract import FeatureSettings
from chainrule.data.class_folders import list_class_folder
from chainrule.errors import ConfigError, FormatError

__all__ = ["AudioFolder", "list_audio_folder", "load_audio_folder", "MAX_FILES"]

MAX_FILES = 1_000_000


@dataclass
class AudioFolder:
    """Features of every file of a class folder.

    ``features`` holds one ``(T_i, F)`` float32 array per file; ``labels`` (int64) index
    ``class_names``; ``paths`` are the files, ``names`` each file's path inside its class
    folder without the extension (the same prompt recorded for two classes has one name).
    """

    features: list[np.ndarray]
    labels: np.ndarray
    class_names: list[str]
    paths: list[Path]
    names: list[str] = field(default_factory=list)
    settings: FeatureSettings | None = None

    def fit_normalization(self, train: Any = None) -> FeatureSettings:
        """For "global" normalisation: statistics of the utterances ``train`` (indices, a
        boolean mask, or None: all), then every utterance normalised with them (in place).
        Returns the settings holding the statistics (also kept in ``settings``)."""
        if self.settings is None or self.settings.normalization != "global":
            raise ConfigError("fit_normalization: only settings with normalization='global'")
        if self.settings.mean is not None:
            raise ConfigError("fit_normalization: these features are already normalised")
        chosen = np.arange(len(self.features)) if train is None else np.asarray(train)
        if chosen.dtype == bool:
            chosen = np.flatnonzero(chosen)
        self.settings = self.settings.fit_global([self.features[int(i)] for i in chosen])
        self.features = [self.settings.normalize(f) for f in self.features]
        return self.settings

    def padded(self, max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(N, T, F)`` zero-padded features and their lengths (see ``pad_frames``)."""
        limit = max_frames
        if limit is None and self.settings is not None:
            limit = self.settings.max_frames
        return pad_frames(self.features, limit)


def list_audio_folder(
    path: str | os.PathLike[str], extensions: tuple[str, ...] = (".wav",),
    max_files: int = MAX_FILES,
) -> tuple[list[Path], np.ndarray, list[str]]:  # fmt: skip
    """The files of a class folder, their labels and the class names (nothing is read).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from chainrule.data.audio import write_wav
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls in ("no", "yes"):
    ...     (root / cls).mkdir()
    ...     write_wav(root / cls / "1.wav", np.zeros(800), 8000)
    >>> files, labels, names = list_audio_folder(root)
    >>> [f.name for f in files], labels.tolist(), names
    (['1.wav', '1.wav'], [0, 1], ['no', 'yes'])
    """
    return list_class_folder(path, extensions, "audio folder", ("yes", "no"), max_files)


def load_audio_folder(
    path: str | os.PathLike[str],
    settings: FeatureSettings | None = None,
    progress: bool | None = None,
    class_names: list[str] | None = None,
) -> AudioFolder:
    """Read every ``.wav`` file of a class folder and extract its features.

    ``settings`` says how (default ``FeatureSettings()``; with "global" normalisation and no
    statistics yet the features come un-normalised: call ``fit_normalization`` with the
    training part); ``progress`` shows a tqdm bar
    (None: only on a terminal and for more than 100 files). ``class_names`` (a trained
    model's) maps the folders to the model's classes: a folder the model does not know is a
    FormatError.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from chainrule.data.audio import FeatureSettings, write_wav
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls in ("low", "high"):
    ...     (root / cls).mkdir()
    ...     f = 300 if cls == "low" else 2000
    ...     write_wav(root / cls / "a.wav", np.sin(np.arange(4000) * 2 * np.pi * f / 8000), 8000)
    >>> data = load_audio_folder(root, FeatureSettings(sample_rate=8000, n_mels=20))
    >>> data.class_names, data.labels.tolist(), data.features[0].shape
    (['high', 'low'], [0, 1], (51, 20))
    """
    settings = settings or FeatureSettings()
    files, labels, classes = list_audio_folder(path)
    root = Path(path)
    if class_names is not None:
        unknown = sorted(set(classes) - set(class_names))
        if unknown:
            raise FormatError(
                f"{root}: class folder(s) {unknown} are not classes of the model "
                f"({', '.join(class_names[:20])})"
            )
        labels = np.array([class_names.index(classes[k]) for k in labels], dtype=np.int64)
        classes = list(class_names)
    show = progress if progress is not None else (len(files) > 100 and _terminal())
    iterator: Any = files
    if show:
        from tqdm import tqdm

        iterator = tqdm(files, desc="audio features", unit="file", leave=False)
    features = [settings.extract_file(f) for f in iterator]
    names = [str(f.relative_to(root).relative_to(f.relative_to(root).parts[0]).with_suffix(""))
             for f in files]  # fmt: skip
    return AudioFolder(features, labels, classes, files, names, settings)


def _terminal() -> bool:
    import sys

    return sys.stderr.isatty()
