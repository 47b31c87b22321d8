"""A process killed (SIGKILL) before any file-system call of a save leaves the old or the new
model loadable, and the same for checkpoints; opening the folder afterwards cleans up.

The fault is injected as the issue found it with ``strace -e inject=...:signal=KILL:when=N``,
in process: a child wraps the ``os`` calls a save makes (open, fsync, link, rename, replace,
unlink, fchmod, mkdir) and kills itself with SIGKILL just before the N-th, for every N.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.io import load, load_checkpoint, save, save_checkpoint
from chainrule.io.recovery import recover_folder
from chainrule.nn.layers import Linear
from chainrule.optim import SGD

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

CHILD = r"""
import os, signal, sys
import numpy as np
from chainrule.io import save, save_checkpoint
from chainrule.nn.layers import Linear
from chainrule.optim import SGD

folder, kill_at, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
net = Linear(3, 2, rng=1)
opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
count = 0

def hooked(call):
    def wrapped(*args, **kwargs):
        global count
        count += 1
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return call(*args, **kwargs)
    return wrapped

for name in ("open", "fsync", "link", "rename", "replace", "unlink", "fchmod", "mkdir"):
    setattr(os, name, hooked(getattr(os, name)))
if kind == "model":
    save(net, os.path.join(folder, "model"), metadata={"which": "new"})
else:
    save_checkpoint(folder, net, opt, epoch=4, history_dict={"loss": [4.0, 3.0, 2.0, 1.0]})
print(count)
"""

MODEL_FILES = ["model.json", "model.safetensors"]
CHECKPOINT_FILES = [
    "checkpoint.json",
    "checkpoint.model.safetensors",
    "checkpoint.optimizer.safetensors",
]


def child(folder: Path, kill_at: int, kind: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), str(kill_at), kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def old_state(folder: Path, kind: str) -> None:
    folder.mkdir()
    net = Linear(3, 2, rng=0)
    if kind == "model":
        save(net, folder / "model", metadata={"which": "old"})
    else:
        opt = SGD(net.parameters(), lr=0.1, momentum=0.9)
        save_checkpoint(folder, net, opt, epoch=3, history_dict={"loss": [4.0, 3.0, 2.0]})


def which(folder: Path, kind: str) -> str:
    """'old' or 'new': the complete state that loads from ``folder`` (raises if none does)."""
    old, new = Linear(3, 2, rng=0).state_dict(), Linear(3, 2, rng=1).state_dict()
    if kind == "model":
        loaded = load(folder / "model")
        weights = loaded.model.state_dict()
        said = loaded.metadata["which"]
    else:
        net = Linear(3, 2, rng=5)
        epoch, history, _ = load_checkpoint(folder, net, SGD(net.parameters(), 0.1, 0.9))
        weights = net.state_dict()
        said = {3: "old", 4: "new"}[epoch]
        assert len(history["loss"]) == epoch
    expected = old if said == "old" else new
    assert all(np.array_equal(weights[k], expected[k]) for k in expected), said
    return said


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_a_kill_before_any_call_of_a_save_leaves_the_old_or_the_new_state(
    tmp_path: Path, kind: str
) -> None:
    files = MODEL_FILES if kind == "model" else CHECKPOINT_FILES
    counting = tmp_path / "count"
    old_state(counting, kind)
    probe = child(counting, 0, kind)
    out, err = probe.communicate(timeout=120)
    assert probe.returncode == 0, err
    total = int(out)
    assert total >= 10  # opens, fsyncs, links, renames, unlinks of a two- or three-file commit

    runs = {}
    for n in range(1, total + 1):
        old_state(tmp_path / f"kill{n}", kind)
        runs[n] = child(tmp_path / f"kill{n}", n, kind)
    seen = set()
    for n, process in runs.items():
        _, err = process.communicate(timeout=120)
        assert process.returncode == -signal.SIGKILL, (n, err)
        folder = tmp_path / f"kill{n}"
        before = which(folder, kind)  # loadable as it was left, before any clean-up
        recover_folder(folder, files)
        assert sorted(os.listdir(folder)) == sorted(files), n  # no litter left
        assert which(folder, kind) == before
        seen.add(before)
    assert seen == {"old", "new"}  # the kills landed on both sides of the switch
