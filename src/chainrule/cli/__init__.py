"""The ``chainrule`` command line: train, evaluate, predict, inspect, gradcheck, lr-find.

Only ``argparse`` is imported at start-up; each command imports what it needs when it runs, so
``chainrule --help`` is fast. User errors exit with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chainrule.cli import config

EPILOG = """examples:
  chainrule train                                  # the digit classifier on the bundled digits
  chainrule train --dataset fashion-mnist --hidden 256 --epochs 20 --out runs/fashion
  chainrule evaluate runs/fashion/model
  chainrule predict runs/fashion/model shoe.png --json
  chainrule inspect runs/fashion/model
  chainrule train --audio-dir speech/ --arch gru --sample-rate 8000 --duration 3
  chainrule predict runs/speech/model hello.wav recordings/
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _add_data_flags(parser: argparse.ArgumentParser, default_dataset: bool = True) -> None:
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


def _add_architecture_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("architecture")
    group.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        metavar="N",
        help="hidden layer sizes (default: 256, one hidden layer)",
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


def _add_audio_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("audio (with --audio-dir)")
    group.add_argument(
        "--arch",
        choices=config.ARCHITECTURES,
        help="network over the log-mel frames: gru (default), lstm, or dense (pooled statistics)",
    )
    group.add_argument("--sample-rate", type=_positive_int, help="resample to this rate (16000)")
    group.add_argument("--n-mels", type=_positive_int, help="mel bands (default 40)")
    group.add_argument(
        "--duration", type=float, metavar="SECONDS", help="crop/pad every file to this length"
    )


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    _add_data_flags(parser)
    _add_architecture_flags(parser)
    _add_audio_flags(parser)
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
    opt.add_argument("--clip-grad", type=float, help="clip the global gradient norm")
    opt.add_argument("--batch-size", type=_positive_int)
    opt.add_argument("--epochs", type=_positive_int)
    opt.add_argument("--schedule", choices=("constant", "step", "exponential", "cosine", "plateau"))
    opt.add_argument("--warmup-epochs", type=int, help="linear warm-up (with --schedule cosine)")
    opt.add_argument(
        "--early-stopping",
        type=_positive_int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better validation loss",
    )
    opt.add_argument("--validation-split", type=float, metavar="FRACTION")
    parser.add_argument("--seed", type=int, help="random seed (default 0): same seed, same run")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Train and understand neural networks by backpropagation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, examples: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog="examples:\n" + examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    train = command(
        "train",
        "train a classifier (by default: one hidden layer on the bundled 8x8 digits)",
        "  chainrule train\n"
        "  chainrule train --dataset fashion-mnist --hidden 256 --optimizer adam --lr 1e-3\n"
        "  chainrule train --config settings.toml --out runs/exp1\n"
        "  chainrule train --resume runs/exp1 --epochs 60\n",
    )
    _add_train_flags(train)
    train.add_argument("--config", metavar="FILE", help="TOML or JSON file holding the settings")
    train.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/DATASET-TIME)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar or epoch table")
    train.add_argument("--no-plots", action="store_true", help="skip the plots and the report")

    evaluate = command(
        "evaluate",
        "accuracy, per-class precision / recall / F1 and confusion matrix of a saved model",
        "  chainrule evaluate runs/exp1/model\n  chainrule evaluate model --dataset mnist\n",
    )
    evaluate.add_argument("model", help="model path (NAME, NAME.json or NAME.safetensors)")
    _add_data_flags(evaluate, default_dataset=False)
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")

    predict = command(
        "predict",
        "classify images (PNG/JPEG, any size), .npy arrays, or .wav files and folders of them "
        "(audio models) with a saved model",
        "  chainrule predict runs/exp1/model digit.png\n"
        "  chainrule predict model a.png b.jpg batch.npy --json\n",
    )
    predict.add_argument("model")
    predict.add_argument("inputs", nargs="+", metavar="INPUT")
    predict.add_argument("--json", action="store_true", help="machine-readable output")
    predict.add_argument("--top", type=_positive_int, default=1, help="show the K best classes")
    predict.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="invert image colours: auto (default) when the background is the opposite of "
        "the training images'",
    )

    inspect = command(
        "inspect",
        "layers, shapes, parameter counts, training settings and final metrics of a model",
        "  chainrule inspect runs/exp1/model\n",
    )
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")

    gradcheck = command(
        "gradcheck",
        "check a network's backward pass numerically, layer by layer",
        "  chainrule gradcheck runs/exp1/model\n"
        "  chainrule gradcheck --hidden 32 16 --batch-norm\n",
    )
    gradcheck.add_argument("model", nargs="?", help="a saved model (or give the architecture)")
    _add_architecture_flags(gradcheck)
    gradcheck.add_argument("--inputs", type=_positive_int, default=64, help="input features")
    gradcheck.add_argument("--classes", type=_positive_int, default=10)
    gradcheck.add_argument("--samples", type=_positive_int, default=4)
    gradcheck.add_argument("--seed", type=int, default=0)

    lr_find = command(
        "lr-find",
        "learning-rate range test: loss versus learning rate, and a suggested value",
        "  chainrule lr-find\n  chainrule lr-find --dataset fashion-mnist --optimizer adam\n",
    )
    _add_train_flags(lr_find)
    lr_find.add_argument("--out", metavar="DIR", default=".", help="where to write the plot")
    lr_find.add_argument("--steps", type=_positive_int, default=100)

    demo = command(
        "demo",
        "watch backpropagation learn XOR with a 2-4-1 network",
        "  chainrule demo --steps 3000\n",
    )
    demo.add_argument("--steps", type=_positive_int, default=3000)
    demo.add_argument("--lr", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chainrule`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from chainrule import __version__

        print(f"chainrule {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    from chainrule.cli import commands
    from chainrule.errors import ChainruleError

    try:
        return int(getattr(commands, args.command.replace("-", "_"))(args))
    except (ChainruleError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        message = " ".join(str(err).split()) or type(err).__name__  # one line, whole message
        print(f"chainrule {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130
