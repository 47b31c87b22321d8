"""Audio feature extraction: the 2,831 Asterisk prompts to log-mel, chainrule against librosa.

Usage::

    .venv/bin/python benchmarks/bench_audio.py                  # 5 rounds, every prompt
    .venv/bin/python benchmarks/bench_audio.py --rounds 3 --limit 500

Each file is read (16-bit PCM, 8 kHz) and turned into a 40-band log-mel spectrogram in dB
(n_fft 256 = 32 ms, hop 80 = 10 ms, Slaney mel scale and norm, centred frames, top_db 80):
chainrule ``read_wav`` + ``log_mel_spectrogram``; librosa ``load(sr=None)`` (soundfile) +
``feature.melspectrogram`` + ``power_to_db``, float32 signals for both. Each measurement is a
fresh process running one contender over all files; the contenders alternate within every
round (A B, B A, ...) and the ratio quoted is the median of the per-round ratios. A worker
reports the wall time of the whole pass and of the feature part alone (files already read).
librosa is optional (``pip install librosa``; it is never a chainrule dependency): without it
only chainrule's times are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOUNDS = Path("/usr/share/asterisk/sounds")
LANGUAGES = ("en", "es", "fr", "it", "ru")
SETTINGS = {"sr": 8000, "n_fft": 256, "hop_length": 80, "n_mels": 40}
SRC = Path(__file__).resolve().parent.parent / "src"


def files(limit: int | None = None) -> list[str]:
    found = sorted(str(f) for lang in LANGUAGES for f in (SOUNDS / lang).resolve().rglob("*.wav"))
    return found[:limit] if limit else found


def _worker(contender: str, paths: list[str]) -> dict[str, float]:
    import numpy as np

    s = SETTINGS
    if contender == "chainrule":
        sys.path.insert(0, str(SRC))
        from chainrule.data.audio import log_mel_spectrogram, read_wav

        def load(p: str) -> np.ndarray:
            return read_wav(p)[0]

        def feats(x: np.ndarray) -> np.ndarray:
            return log_mel_spectrogram(x, s["sr"], n_fft=s["n_fft"], hop_length=s["hop_length"],
                                       n_mels=s["n_mels"])  # fmt: skip
    else:
        import librosa

        def load(p: str) -> np.ndarray:
            return librosa.load(p, sr=None, mono=True)[0]

        def feats(x: np.ndarray) -> np.ndarray:
            mel = librosa.feature.melspectrogram(
                y=x, sr=s["sr"], n_fft=s["n_fft"], hop_length=s["hop_length"], n_mels=s["n_mels"]
            )
            return librosa.power_to_db(mel, top_db=80.0)  # fmt: skip

    feats(load(paths[0]))  # warm-up: imports, FFT plans, librosa's caches
    start = time.perf_counter()
    frames = sum(feats(load(p)).size for p in paths)
    total = time.perf_counter() - start
    signals = [load(p) for p in paths]
    start = time.perf_counter()
    for x in signals:
        feats(x)
    return {"seconds": total, "features_seconds": time.perf_counter() - start,
            "files": len(paths), "values": int(frames)}  # fmt: skip


def _run(contender: str, limit: int | None, python: str) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [python, __file__, "--worker", contender] + (["--limit", str(limit)] if limit else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--python", default=sys.executable, help="interpreter for both")
    parser.add_argument("--worker", choices=("chainrule", "librosa"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, files(args.limit))))
        return
    try:
        subprocess.run([args.python, "-c", "import librosa"], check=True, capture_output=True)
        contenders = ["chainrule", "librosa"]
    except subprocess.CalledProcessError:
        contenders = ["chainrule"]
        print("librosa is not installed for", args.python, "- timing chainrule alone")
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in contenders}
    for r in range(args.rounds):
        for c in contenders if r % 2 == 0 else contenders[::-1]:
            runs[c].append(_run(c, args.limit, args.python))
            print(c, runs[c][-1], flush=True)
    n = runs["chainrule"][0]["files"]
    print(f"\n{n} files, {args.rounds} rounds, 1 thread, medians:")
    for c in contenders:
        total = statistics.median(r["seconds"] for r in runs[c])
        part = statistics.median(r["features_seconds"] for r in runs[c])
        print(f"  {c:10s} read + log-mel {total:6.2f} s   log-mel alone {part:6.2f} s")
    if len(contenders) == 2:
        for key, what in (("seconds", "read + log-mel"), ("features_seconds", "log-mel alone")):
            ratios = [a[key] / b[key] for a, b in zip(runs["chainrule"], runs["librosa"])]
            print(f"  chainrule / librosa time, {what}: {statistics.median(ratios):.2f}x "
                  f"(per round {', '.join(f'{q:.2f}' for q in ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
