"""Audio data with NumPy only: WAV files, resampling, spectrogram / log-mel / MFCC features,
normalisation, fixed-length and variable-length batches, SpecAugment masking, class folders.

A network reads an utterance as ``(frames, features)``: time first, one row per 10 ms frame.

Examples
--------
>>> import numpy as np
>>> from chainrule.data import audio
>>> t = np.arange(8000) / 8000
>>> feats = audio.log_mel_spectrogram(np.sin(2 * np.pi * 440 * t), 8000, n_fft=256,
...                                   hop_length=80, n_mels=40)
>>> feats.shape
(101, 40)
"""

from __future__ import annotations

from chainrule.data.audio.augment import add_noise, spec_augment
from chainrule.data.audio.batching import (
    NORMALIZATIONS,
    fix_length,
    global_stats,
    lengths_of,
    normalize_global,
    normalize_utterance,
    pad_frames,
    trim_silence,
)
from chainrule.data.audio.extract import KINDS, FeatureSettings
from chainrule.data.audio.features import (
    dct_matrix,
    frame_count,
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_frequencies,
    mel_spectrogram,
    mel_to_hz,
    mfcc,
    power_to_db,
    spectrogram,
)
from chainrule.data.audio.folder import AudioFolder, list_audio_folder, load_audio_folder
from chainrule.data.audio.resample import resample, resample_filter
from chainrule.data.audio.wav import MAX_WAV_BYTES, read_wav, wav_info, write_wav

__all__ = [
    "read_wav", "write_wav", "wav_info", "MAX_WAV_BYTES",
    "resample", "resample_filter",
    "spectrogram", "mel_spectrogram", "log_mel_spectrogram", "mfcc", "power_to_db",
    "mel_filterbank", "mel_frequencies", "hz_to_mel", "mel_to_hz", "dct_matrix", "frame_count",
    "fix_length", "pad_frames", "lengths_of", "normalize_utterance", "global_stats",
    "normalize_global", "NORMALIZATIONS", "trim_silence",
    "spec_augment", "add_noise",
    "FeatureSettings", "KINDS",
    "AudioFolder", "list_audio_folder", "load_audio_folder",
]  # fmt: skip
