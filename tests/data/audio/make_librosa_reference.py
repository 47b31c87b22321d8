"""Writes librosa_reference.json: librosa's mel / log-mel / MFCC values on fixed settings.

Run once with librosa installed (``pip install librosa``; it is NOT a test dependency):
``python tests/data/audio/make_librosa_reference.py``. The test recomputes the same signal
(``reference_signal``) and compares chainrule's features with the stored values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CASES = [
    {"sample_rate": 8000, "seconds": 0.3, "n_fft": 256, "hop_length": 80, "n_mels": 24,
     "fmin": 0.0, "fmax": None, "htk": False, "norm": "slaney", "n_mfcc": 13},
    {"sample_rate": 16000, "seconds": 0.2, "n_fft": 512, "hop_length": 160, "n_mels": 40,
     "fmin": 50.0, "fmax": 7000.0, "htk": True, "norm": None, "n_mfcc": 20},
    {"sample_rate": 22050, "seconds": 0.15, "n_fft": 1024, "hop_length": 256, "n_mels": 64,
     "fmin": 0.0, "fmax": None, "htk": False, "norm": "slaney", "n_mfcc": 20},
]  # fmt: skip


def reference_signal(sample_rate: int, seconds: float) -> np.ndarray:
    """A chirp from 100 Hz to 0.4 * rate, two steady tones and a click: float64."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f1 = 0.4 * sample_rate
    phase = 2 * np.pi * (100 * t + (f1 - 100) * t**2 / (2 * seconds))
    x = 0.5 * np.sin(phase) + 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.cos(2 * np.pi * 1234 * t)
    x[n // 2] += 0.8
    return x


def main() -> None:
    import librosa

    out = {"librosa": librosa.__version__, "cases": []}
    for case in CASES:
        x = reference_signal(case["sample_rate"], case["seconds"])
        kw = dict(sr=case["sample_rate"], n_fft=case["n_fft"], hop_length=case["hop_length"],
                  n_mels=case["n_mels"], fmin=case["fmin"], fmax=case["fmax"], htk=case["htk"],
                  norm=case["norm"], center=True, pad_mode="constant", power=2.0)  # fmt: skip
        mel = librosa.feature.melspectrogram(y=x, **kw)
        db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)
        mfcc = librosa.feature.mfcc(S=db, n_mfcc=case["n_mfcc"], dct_type=2, norm="ortho")
        out["cases"].append({**case, "mel": mel.T.tolist(), "log_mel_db": db.T.tolist(),
                             "mfcc": mfcc.T.tolist()})  # fmt: skip
    path = Path(__file__).with_name("librosa_reference.json")
    path.write_text(json.dumps(out, separators=(",", ":")))
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
