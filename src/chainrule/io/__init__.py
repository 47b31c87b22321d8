"""Model files and checkpoints: safetensors weights + JSON, validated on read, written atomically.

A saved model is a pair of files, ``NAME.safetensors`` (the ``state_dict``) and ``NAME.json``
(architecture from registered layer types, metadata, and the weights' SHA-256). Loading runs no
code from the files and never unpickles; every corrupt or hostile file raises ``FormatError``.
"""

from chainrule.io.atomic import (
    AtomicGroup,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from chainrule.io.checkpoint import (
    checkpoint_paths,
    generator_state,
    load_checkpoint,
    restore_generator,
    save_checkpoint,
)
from chainrule.io.model_file import LoadedModel, load, model_paths, save
from chainrule.io.safetensors_file import (
    read_safetensors,
    read_safetensors_header,
    write_safetensors,
)

__all__ = [
    "save",
    "load",
    "LoadedModel",
    "model_paths",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_paths",
    "generator_state",
    "restore_generator",
    "read_safetensors_header",
    "read_safetensors",
    "write_safetensors",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "AtomicGroup",
]
