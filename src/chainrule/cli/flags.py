"""The flags that several ``chainrule`` commands share, grouped as ``--help`` shows them.

Only ``argparse`` and the option lists of ``chainrule.cli.config`` are imported here, so that
``chainrule --help`` stays fast.
"""

from __future__ import annotations

import argparse

from chainrule.cli import config

__all__ = [
    "positive_int",
    "add_data_flags",
    "add_text_flags",
    "add_architecture_flags",
    "add_cnn_flags",
    "add_audio_flags",
    "add_train_flags",
]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def add_data_flags(parser: argparse.ArgumentParser, default_dataset: bool = True) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        choices=("digits", "mnist", "fashion-mnist"),
        default=None,
        help="bundled 8x8 digits (offline, the default), MNIST or Fashion-MNIST"
        + ("" if default_dataset else " (default: the dataset the model was trained on)"),
    )
    group.add_argument("--data-dir", metavar="DIR", help="a folder of IDX files (MNIST naming)")
    group.add_argument(
        "--csv", metavar="FILE", help="your own data: a label column, then pixel columns"
    )
    group.add_argument(
        "--audio-dir",
        metavar="DIR",
        help="speech/sounds: one subfolder of .wav files per class (or DIR/train and DIR/test)",
    )


def add_text_flags(parser: argparse.ArgumentParser, training: bool = True) -> None:
    group = parser.add_argument_group("text data (a recurrent network: --arch)")
    group.add_argument("--text-dir", metavar="DIR", help="one subfolder of .txt files per class")
    group.add_argument(
        "--text-csv", metavar="FILE", help="a CSV/TSV with a text column and a label column"
    )
    group.add_argument("--text-column", metavar="C", help="the text column (default: text)")
    group.add_argument("--label-column", metavar="L", help="the label column (default: label)")
    group.add_argument(
        "--tagged",
        metavar="FILE",
        help="word/TAG (or word<TAB>TAG) tokens, sentences apart: trains a BiLSTM tagger",
    )
    if not training:
        return
    group.add_argument(
        "--arch",
        choices=config.ARCHS,
        help="the network over a sequence: text lstm (default), gru or rnn; audio (log-mel "
        "frames) gru (default), lstm or dense (pooled statistics); images: cnn (a small CNN, see "
        "--conv) or, without --arch, an MLP; CSV: an MLP",
    )
    group.add_argument("--embedding-dim", type=positive_int, metavar="D", help="default 64")
    group.add_argument("--layers", type=positive_int, help="stacked recurrent layers (default 1)")
    group.add_argument(
        "--bidirectional",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read both directions (default: yes for --tagged, no for classifiers)",
    )
    group.add_argument("--tokens", choices=config.TOKENS, help="words (default) or characters")
    group.add_argument(
        "--max-length",
        type=positive_int,
        metavar="T",
        help="tokens kept of each text (default 200 words or 1000 characters)",
    )
    group.add_argument(
        "--pooling",
        choices=config.POOLINGS,
        help="how a classifier reads the outputs: max (default) or mean over the tokens, or "
        "the last state",
    )


def add_architecture_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("architecture")
    group.add_argument(
        "--hidden",
        type=positive_int,
        nargs="+",
        metavar="N",
        help="hidden layer sizes (default: 256, one hidden layer); the state size of a "
        "recurrent network (default 128)",
    )
    group.add_argument("--activation", choices=config.ACTIVATIONS)
    group.add_argument(
        "--dropout", type=float, metavar="P", help="dropout after each hidden layer (default 0.2)"
    )
    group.add_argument(
        "--batch-norm",
        action="store_true",
        default=None,
        help="batch normalization after each hidden linear layer",
    )


def add_cnn_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("convolutional network (--arch cnn, image data)")
    group.add_argument(
        "--conv",
        type=positive_int,
        nargs="+",
        metavar="C",
        help="channels of each conv block (default: 32 64, two blocks); a block is conv "
        "(padding same) -> batch norm (--batch-norm) -> activation -> max pool",
    )
    group.add_argument("--kernel", type=positive_int, metavar="K", help="conv kernel (3)")
    group.add_argument("--pool", type=positive_int, metavar="P", help="max-pool size (2)")
    group.add_argument(
        "--augment",
        nargs="+",
        choices=config.AUGMENTATIONS,
        help="change each training image at random, anew every epoch (evaluation and predict "
        "see the images as they are): flip mirrors left-right (clothes, not digits), shift "
        "moves by up to 2 pixels (1 on images under 24 pixels)",
    )


def add_audio_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("audio (with --audio-dir; --arch gru, lstm or dense)")
    group.add_argument("--sample-rate", type=positive_int, help="resample to this rate (16000)")
    group.add_argument("--n-mels", type=positive_int, help="mel bands (default 40)")
    group.add_argument(
        "--duration", type=float, metavar="SECONDS", help="crop/pad every file to this length"
    )


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    add_data_flags(parser)
    add_text_flags(parser)
    add_architecture_flags(parser)
    add_cnn_flags(parser)
    add_audio_flags(parser)
    opt = parser.add_argument_group("optimization")
    opt.add_argument(
        "--optimizer",
        choices=config.OPTIMIZERS,
        help="default: sgd (momentum 0.9)",
    )
    opt.add_argument(
        "--lr",
        type=float,
        help="learning rate (default per optimizer: sgd 0.05, adam/adamw/rmsprop 1e-3, "
        "adagrad 1e-2)",
    )
    opt.add_argument(
        "--momentum", type=float, help="SGD/RMSprop momentum (default: sgd 0.9, rmsprop 0)"
    )
    opt.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum")
    opt.add_argument("--weight-decay", type=float, help="decoupled weight decay")
    opt.add_argument("--l1", type=float, help="L1 penalty on the weights, added to the loss")
    opt.add_argument("--l2", type=float, help="L2 penalty (l2/2 * sum w^2), added to the loss")
    opt.add_argument("--max-norm", type=float, help="max-norm constraint on each unit's weights")
    opt.add_argument(
        "--clip-grad",
        type=float,
        help="clip the global gradient norm (default: off; 1.0 for recurrent networks)",
    )
    opt.add_argument("--batch-size", type=positive_int)
    opt.add_argument("--epochs", type=positive_int)
    opt.add_argument("--schedule", choices=("constant", "step", "exponential", "cosine", "plateau"))
    opt.add_argument("--warmup-epochs", type=int, help="linear warm-up (with --schedule cosine)")
    opt.add_argument(
        "--early-stopping",
        type=positive_int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better validation loss",
    )
    opt.add_argument("--validation-split", type=float, metavar="FRACTION")
    parser.add_argument("--seed", type=int, help="random seed (default 0): same seed, same run")
