"""The ``chainrule`` command line: train, evaluate, predict, inspect, gradcheck, lr-find, export.

Only ``argparse`` is imported at start-up; each command imports what it needs when it runs, so
``chainrule --help`` is fast. User errors and operating-system errors exit with status 2 and a
one-line message (see ``main`` for every exit status).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from collections.abc import Sequence

from chainrule.cli import flags

EPILOG = """examples:
  chainrule train                                  # the digit classifier on the bundled digits
  chainrule train --dataset fashion-mnist --hidden 256 --epochs 20 --out runs/fashion
  chainrule evaluate runs/fashion/model
  chainrule predict runs/fashion/model shoe.png --json
  chainrule inspect runs/fashion/model
  chainrule export runs/fashion model.onnx         # ONNX, for ONNX Runtime and other tools
  chainrule train --audio-dir speech/ --arch gru --sample-rate 8000 --duration 3
  chainrule predict runs/speech/model hello.wav recordings/
"""


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
        "  chainrule train --resume runs/exp1 --epochs 60\n"
        "  chainrule train --text-dir mails/ --arch lstm --epochs 5 --out runs/spam\n"
        "  chainrule train --text-csv reviews.csv --text-column review --label-column stars\n"
        "  chainrule train --tagged brown.txt --epochs 3 --out runs/pos\n"
        "  chainrule train --tensorboard runs/tb/exp1     # then: tensorboard --logdir runs/tb\n",
    )
    flags.add_train_flags(train)
    train.add_argument("--config", metavar="FILE", help="TOML or JSON file holding the settings")
    train.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/DATASET-TIME)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar or epoch table")
    train.add_argument("--no-plots", action="store_true", help="skip the plots and the report")
    train.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write TensorBoard event files to DIR (view: tensorboard --logdir DIR)",
    )

    evaluate = command(
        "evaluate",
        "accuracy, per-class precision / recall / F1 and confusion matrix of a saved model",
        "  chainrule evaluate runs/exp1/model\n  chainrule evaluate model --dataset mnist\n",
    )
    evaluate.add_argument("model", help="model path (NAME, NAME.json or NAME.safetensors)")
    flags.add_data_flags(evaluate, default_dataset=False)
    flags.add_text_flags(evaluate, training=False)
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")

    predict = command(
        "predict",
        "classify images (PNG/JPEG, any size), .npy arrays, text, or .wav files and folders of "
        "them (audio models) with a saved model",
        "  chainrule predict runs/exp1/model digit.png\n"
        "  chainrule predict model a.png b.jpg batch.npy --json\n"
        '  chainrule predict runs/spam/model --text "Win a FREE cruise, click now"\n'
        '  chainrule predict runs/pos/model --text "The cat sat on the mat ."\n',
    )
    predict.add_argument("model")
    predict.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="image/.npy files; for a text model .txt files"
    )
    predict.add_argument(
        "--text", action="append", metavar="TEXT", help="a text to classify (or tag); repeatable"
    )
    flags.add_text_flags(predict, training=False)
    predict.add_argument("--json", action="store_true", help="machine-readable output")
    predict.add_argument(
        "--top", type=flags.positive_int, default=1, help="show the K best classes"
    )
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
    flags.add_architecture_flags(gradcheck)
    gradcheck.add_argument("--inputs", type=flags.positive_int, default=64, help="input features")
    gradcheck.add_argument("--classes", type=flags.positive_int, default=10)
    gradcheck.add_argument("--samples", type=flags.positive_int, default=4)
    gradcheck.add_argument("--seed", type=int, default=0)

    lr_find = command(
        "lr-find",
        "learning-rate range test: loss versus learning rate, and a suggested value",
        "  chainrule lr-find\n  chainrule lr-find --dataset fashion-mnist --optimizer adam\n",
    )
    flags.add_train_flags(lr_find)
    lr_find.add_argument("--out", metavar="DIR", default=".", help="where to write the plot")
    lr_find.add_argument("--steps", type=flags.positive_int, default=100)

    export = command(
        "export",
        "write a saved model as an ONNX file (raw inputs in, preprocessing included)",
        "  chainrule export runs/exp1 model.onnx\n"
        "  chainrule export runs/exp1/model model.onnx --opset 18\n",
    )
    export.add_argument("model", help="a run folder or a model path (NAME, NAME.json, ...)")
    export.add_argument("output", metavar="OUTPUT.onnx", help="the ONNX file to write")
    export.add_argument("--opset", type=int, default=17, help="ONNX operator set (default 17)")
    export.add_argument(
        "--no-verify", action="store_true", help="do not run the file with ONNX Runtime"
    )

    demo = command(
        "demo",
        "watch backpropagation learn XOR with a 2-4-1 network",
        "  chainrule demo --steps 3000\n",
    )
    demo.add_argument("--steps", type=flags.positive_int, default=3000)
    demo.add_argument("--lr", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chainrule`` command; returns the exit status.

    0: done; 2: a user error or an operating-system error (one line on stderr, with the path
    and the reason); 3: ``train`` stopped on a NaN, infinite or diverging loss (the run folder
    is complete); 130: Ctrl-C; 141: the reader of the output went away (``... | head``).
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _broken_pipe()


def _main(argv: Sequence[str] | None) -> int:
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
        command = getattr(commands, args.command.replace("-", "_"))
        # Once imported, a command's module shadows its runner of the same name in `commands`.
        status = int(getattr(command, "run", command)(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return status
    except BrokenPipeError:
        return _broken_pipe()
    except (ChainruleError, OSError) as err:
        print(f"chainrule {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainrule {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(err: BaseException) -> str:
    """The whole message on one line; for an OSError the path and the reason."""
    if isinstance(err, OSError) and not _is_chainrule(err) and err.strerror:
        code = errno.errorcode.get(err.errno or 0)
        reason = err.strerror + (f" ({code})" if code else "")
        where = err.filename if err.filename is not None else None
        message = f"{where}: {reason}" if where is not None else reason
    else:
        message = str(err) or type(err).__name__
    return " ".join(message.split())


def _is_chainrule(err: BaseException) -> bool:
    from chainrule.errors import ChainruleError

    return isinstance(err, ChainruleError)


def _broken_pipe() -> int:
    """The reader of stdout went away: stop quietly, as command-line tools do (status 141,
    what a shell reports for a program ended by SIGPIPE)."""
    # Point stdout at /dev/null so the interpreter's flush at exit does not fail again.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 141
