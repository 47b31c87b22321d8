"""Corrupt, truncated and hostile model files: each one crafted here byte by byte is refused
with a FormatError (or DataNotFoundError) whose message names the file and the problem."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from chainrule.errors import DataNotFoundError, FormatError
from chainrule.io import json_doc, load, read_safetensors, read_safetensors_header, save
from chainrule.nn.layers import Linear, ReLU, Sequential

# A Linear(3, 2) model: "weight" float32 (2, 3) = 24 bytes, then "bias" float32 (2,) = 8 bytes.
GOOD = {
    "weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    "bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]},
}
DATA = np.arange(8, dtype="<f4").tobytes()


def st(header=None, data=DATA, *, raw=None, length=None):
    """Safetensors bytes: 8-byte little-endian header length, header, data section."""
    head = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(head) if length is None else length) + head + data


def changed(**entries):
    """GOOD with some entries replaced (None deletes one)."""
    header = copy.deepcopy(GOOD)
    for name, entry in entries.items():
        if entry is None:
            del header[name]
        else:
            header[name] = entry
    return header


@pytest.fixture
def pair(tmp_path):
    """A valid saved Linear(3, 2): (json path, weights path)."""
    save(Linear(3, 2, rng=0), tmp_path / "m")
    return tmp_path / "m.json", tmp_path / "m.safetensors"


def install(pair, blob):
    """Put ``blob`` in the weights file and record its hash, so loading reaches the header."""
    json_path, weights_path = pair
    weights_path.write_bytes(blob)
    doc = json.loads(json_path.read_text())
    doc["weights"]["sha256"] = hashlib.sha256(blob).hexdigest()
    doc["weights"]["bytes"] = len(blob)
    json_path.write_text(json.dumps(doc))


def edit(pair, change):
    """Rewrite the model JSON through ``change(doc)``."""
    json_path, _ = pair
    doc = json.loads(json_path.read_text())
    change(doc)
    json_path.write_text(json.dumps(doc))


def test_the_crafted_good_file_loads(pair):
    install(pair, st(GOOD))  # the baseline the hostile variants below start from
    loaded = load(pair[0])
    assert loaded.model.state_dict()["weight"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert loaded.model.state_dict()["bias"].tolist() == [6, 7]


# -- the safetensors container --------------------------------------------------------------------
HOSTILE_SAFETENSORS = {
    "empty file": (b"", "0 bytes is too short for a safetensors file"),
    "truncated length field": (b"\x10\x00\x00", "3 bytes is too short"),
    "length beyond the file": (
        st(GOOD, length=10_000),
        r"not a safetensors file: its first 8 bytes, read as the header length, ask for more "
        r"than the \d+ bytes that follow them",
    ),
    "length over the cap": (
        struct.pack("<Q", 2**63) + b"{}",
        "ask for more than the 100000000-byte limit",
    ),
    "header not JSON": (st(raw=b"{weight: oops}"), "the header is not valid JSON"),
    "header not UTF-8": (st(raw=b'\xff\xfe{"a": 1}'), "the header is not valid JSON"),
    "header a list": (st(raw=b"[]"), "the header must be a JSON object, got list"),
    "duplicate names": (
        st(
            raw=b'{"weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, '
            b'"weight": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]}}'
        ),
        "duplicate key 'weight'",
    ),
    "NaN constant": (
        st(raw=b'{"bias": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 8]}}'),
        "NaN is not valid JSON",
    ),
    "metadata not strings": (
        st({"__metadata__": {"format": 1}, **GOOD}),
        "__metadata__ must map strings to strings",
    ),
    "entry not an object": (
        st(changed(bias=[24, 32])),
        "tensor 'bias' must be described by exactly the keys",
    ),
    "entry with an extra key": (
        st(changed(bias={**GOOD["bias"], "code": "import os"})),
        r"exactly the keys \['data_offsets', 'dtype', 'shape'\], got \['code'",
    ),
    "empty tensor name": (st({"": GOOD["bias"], "weight": GOOD["weight"]}), "an empty name"),
    "dtype BF16": (
        st(changed(weight={"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}), DATA[:20]),
        r"tensor 'weight' has dtype 'BF16', which chainrule does not read; allowed dtypes are",
    ),
    "dtype F16": (
        st(changed(bias={"dtype": "F16", "shape": [2], "data_offsets": [24, 28]}), DATA[:28]),
        "has dtype 'F16', which chainrule does not read",
    ),
    "dtype not a string": (st(changed(bias={**GOOD["bias"], "dtype": 4})), "has dtype 4"),
    "negative dimension": (
        st(changed(weight={**GOOD["weight"], "shape": [-2, -3]})),
        r"has shape \[-2, -3\]; expected a list of at most 64 non-negative integers",
    ),
    "boolean dimension": (
        st(changed(bias={**GOOD["bias"], "shape": [True, 2]})),
        r"has shape \[True, 2\]",
    ),
    "float dimension": (st(changed(bias={**GOOD["bias"], "shape": [2.0]})), r"shape \[2.0\]"),
    "too many dimensions": (
        st(changed(bias={**GOOD["bias"], "shape": [1] * 65 + [2]})),
        "at most 64 non-negative integers",
    ),
    "offsets not a pair": (
        st(changed(bias={**GOOD["bias"], "data_offsets": [24]})),
        r"has data_offsets \[24\]; expected \[begin, end\]",
    ),
    "offsets reversed": (
        st(changed(bias={**GOOD["bias"], "data_offsets": [32, 24]})),
        r"data_offsets \[32, 24\] begin after they end",
    ),
    "offsets past the data": (
        st(changed(bias={**GOOD["bias"], "data_offsets": [24, 40]})),
        r"data_offsets \[24, 40\] outside the data section of 32 bytes",
    ),
    "negative offset": (
        st(changed(weight={**GOOD["weight"], "data_offsets": [-8, 24]})),
        "outside the data section",
    ),
    "shape does not fit the bytes": (
        st(changed(weight={**GOOD["weight"], "shape": [3, 3]})),
        r"shape \(3, 3\) and dtype F32 needs 36 bytes, but its data_offsets \[0, 24\] hold 24",
    ),
    "astronomical shape": (
        st(changed(weight={**GOOD["weight"], "shape": [2**62, 2**62]})),
        f"needs {2**62 * 2**62 * 4} bytes",  # Python integers: no overflow to a small size
    ),
    "overlapping tensors": (
        st(
            changed(
                weight={**GOOD["weight"], "data_offsets": [0, 24]},
                bias={**GOOD["bias"], "data_offsets": [16, 24]},
            ),
            DATA[:24],
        ),
        "tensors 'weight' and 'bias' overlap",
    ),
    "gap between tensors": (
        st(changed(bias={**GOOD["bias"], "data_offsets": [28, 36]}), DATA + b"\0" * 4),
        r"bytes 24\.\.28 of the data section belong to no tensor",
    ),
    "bytes after the last tensor": (
        st(GOOD, DATA + b"\xde\xad\xbe\xef"),
        "the tensors cover 32 bytes but the data section has 36",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_SAFETENSORS))
def test_hostile_safetensors_header_is_refused(pair, case):
    blob, message = HOSTILE_SAFETENSORS[case]
    install(pair, blob)
    where = re.escape(str(pair[1]))
    with pytest.raises(FormatError, match=f"^{where}: .*{message}"):
        read_safetensors_header(pair[1])
    with pytest.raises(FormatError, match=f"^{where}: .*{message}"):
        read_safetensors(pair[1])
    with pytest.raises(FormatError, match=f"^{where}: .*{message}"):
        load(pair[0])


# -- tensors that are well formed but do not fit the architecture ---------------------------------
F32_DATA = np.arange(8, dtype="<f4")
HOSTILE_TENSORS = {
    "missing tensor": (
        st(changed(bias=None), DATA[:24]),
        r"the tensors do not match the architecture: missing \['bias'\], unexpected \[\]",
    ),
    "unexpected tensor": (
        st(
            changed(extra={"dtype": "F32", "shape": [1], "data_offsets": [32, 36]}), DATA + DATA[:4]
        ),
        r"the tensors do not match the architecture: missing \[\], unexpected \['extra'\]",
    ),
    "transposed weight": (
        st(changed(weight={**GOOD["weight"], "shape": [3, 2]})),
        r"tensor 'weight' has shape \(3, 2\), but the architecture needs \(2, 3\)",
    ),
    "float64 weights in a float32 model": (
        st(
            {
                "weight": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]},
                "bias": {"dtype": "F64", "shape": [2], "data_offsets": [48, 64]},
            },
            np.arange(8, dtype="<f8").tobytes(),
        ),
        "tensor 'weight' has dtype float64, but the model's is float32",
    ),
    "integer weights": (
        st(changed(bias={"dtype": "I32", "shape": [2], "data_offsets": [24, 32]})),
        "tensor 'bias' has dtype int32, but the model's is float32",
    ),
    "NaN weights": (
        st(GOOD, np.array([0, 1, np.nan, 3, 4, 5, 6, 7], dtype="<f4").tobytes()),
        r"tensors \['weight'\] contain NaN or infinity",
    ),
    "infinite bias": (
        st(GOOD, np.array([0, 1, 2, 3, 4, 5, 6, -np.inf], dtype="<f4").tobytes()),
        r"tensors \['bias'\] contain NaN or infinity",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_TENSORS))
def test_tensors_that_do_not_fit_the_architecture_are_refused(pair, case):
    blob, message = HOSTILE_TENSORS[case]
    install(pair, blob)
    read_safetensors_header(pair[1])  # the container itself is valid
    with pytest.raises(FormatError, match=f"^{re.escape(str(pair[1]))}: {message}"):
        load(pair[0])


def test_weights_of_another_architecture_named_in_the_message(tmp_path):
    save(Sequential(Linear(784, 256, rng=0), ReLU(), Linear(256, 10, rng=0)), tmp_path / "mnist")
    save(Sequential(Linear(784, 256, rng=0), ReLU(), Linear(784, 256, rng=0)), tmp_path / "other")
    mnist = (tmp_path / "mnist.json", tmp_path / "mnist.safetensors")
    install(mnist, (tmp_path / "other.safetensors").read_bytes())
    with pytest.raises(
        FormatError,
        match=r"mnist\.safetensors: tensor '2\.weight' has shape \(256, 784\), but the "
        r"architecture needs \(10, 256\)",
    ):
        load(tmp_path / "mnist")


def test_tampered_weights_fail_the_hash(pair):
    blob = bytearray(pair[1].read_bytes())
    blob[-1] ^= 0x01  # one flipped bit in the last bias value
    pair[1].write_bytes(bytes(blob))
    with pytest.raises(FormatError, match=r"m\.safetensors: its SHA-256 does not match the one "):
        load(pair[0])


# -- the JSON document -----------------------------------------------------------------------------
def set_key(key, value):
    return lambda doc: doc.__setitem__(key, value)


def del_key(key):
    return lambda doc: doc.pop(key)


HOSTILE_JSON = {
    "format of another program": (set_key("format", "keras-model"), "the format is 'keras-model'"),
    "a checkpoint, not a model": (
        set_key("format", "chainrule-checkpoint"),
        "the format is 'chainrule-checkpoint', expected 'chainrule-model'",
    ),
    "no format": (del_key("format"), "the format is None, expected 'chainrule-model'"),
    "future version": (
        set_key("format_version", 2),
        "format_version 2 was written by a newer chainrule; this version reads format_version 1",
    ),
    "version as a string": (set_key("format_version", "1"), "format_version is '1', expected a"),
    "version zero": (set_key("format_version", 0), "format_version is 0, expected a positive"),
    "version true": (set_key("format_version", True), "format_version is True"),
    "no architecture": (del_key("architecture"), "the field 'architecture' is missing"),
    "architecture a list": (set_key("architecture", []), "'architecture' must be dict, got \\[\\]"),
    "unknown layer type": (
        set_key("architecture", {"type": "Lambda", "config": {"code": "__import__('os')"}}),
        "cannot build the architecture: unknown layer type 'Lambda'",
    ),
    "unexpected layer kwarg": (
        set_key(
            "architecture",
            {"type": "Linear", "config": {"in_features": 3, "out_features": 2, "act": "x"}},
        ),
        "cannot build the architecture: bad config for a Linear layer",
    ),
    "invalid layer kwarg value": (
        set_key(
            "architecture", {"type": "Linear", "config": {"in_features": -3, "out_features": 2}}
        ),
        "cannot build the architecture: bad config for a Linear layer",
    ),
    "spec without config": (
        set_key("architecture", {"type": "Linear"}),
        "cannot build the architecture: a layer spec must be a dict with exactly the keys",
    ),
    "nested unknown layer": (
        set_key("architecture", {"type": "Sequential", "config": {"layers": [{"type": "Os"}]}}),
        "cannot build the architecture",
    ),
    "dtype float16": (set_key("dtype", "float16"), "dtype is 'float16', expected one of"),
    "no weights record": (del_key("weights"), "the field 'weights' is missing"),
    "hash not hex": (
        lambda d: d["weights"].__setitem__("sha256", "../../etc/passwd"),
        "weights.sha256 must be 64 hex digits",
    ),
    "class names not strings": (set_key("class_names", [0, 1]), "class_names must be a list of "),
    "class names a dict": (set_key("class_names", {"a": 1}), "'class_names' must be list"),
    "bad preprocessing": (
        set_key("preprocessing", {"std": [-1.0]}),
        r"preprocessing\['std'\] must be positive",
    ),
    "metrics a list": (set_key("metrics", [1]), "the field 'metrics' must be dict"),
}


@pytest.mark.parametrize("case", list(HOSTILE_JSON))
def test_hostile_json_is_refused(pair, case):
    change, message = HOSTILE_JSON[case]
    edit(pair, change)
    with pytest.raises(FormatError, match=f"^{re.escape(str(pair[0]))}: .*{message}"):
        load(pair[0])


RAW_JSON = {
    "not JSON": (b'{"format": "chainrule-model", oops', "not valid JSON"),
    "not UTF-8": (b"\xff\xfe\x00{", "not valid JSON"),
    "a list": (b"[1, 2]", "expected a JSON object, got list"),
    "NaN": (b'{"format": "chainrule-model", "metrics": {"loss": NaN}}', "NaN is not valid"),
    "duplicate keys": (b'{"format": "chainrule-model", "format": "x"}', "duplicate key 'format'"),
    "deeply nested": (b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
}


@pytest.mark.parametrize("case", list(RAW_JSON))
def test_broken_json_is_refused(pair, case):
    raw, message = RAW_JSON[case]
    pair[0].write_bytes(raw)
    with pytest.raises(FormatError, match=f"^{re.escape(str(pair[0]))}: .*{message}"):
        load(pair[0])


def test_oversized_json_is_refused_unread(pair, monkeypatch):
    monkeypatch.setattr(json_doc, "MAX_JSON_BYTES", 100)
    with pytest.raises(FormatError, match=r"m\.json: larger than 100 bytes"):
        load(pair[0])


# -- files that are not files ----------------------------------------------------------------
def test_folders_in_place_of_files(tmp_path, pair):
    pair[1].unlink()
    pair[1].mkdir()
    with pytest.raises(FormatError, match=r"m\.safetensors: is a folder, expected a safetensors"):
        load(pair[0])
    with pytest.raises(FormatError, match="is a folder"):
        read_safetensors_header(pair[1])
    (tmp_path / "x.json").mkdir()
    (tmp_path / "x.safetensors").write_bytes(st(GOOD))
    with pytest.raises(FormatError, match=r"x\.json: is a folder, expected the JSON of a"):
        load(tmp_path / "x")


def test_missing_safetensors_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"w\.safetensors: no such file"):
        read_safetensors_header(tmp_path / "w.safetensors")
    with pytest.raises(DataNotFoundError, match=r"w\.safetensors: no such file"):
        read_safetensors(tmp_path / "w.safetensors")


def test_valid_header_is_returned(pair):
    install(pair, st({"__metadata__": {"note": "hi"}, **GOOD}))
    header = read_safetensors_header(pair[1])
    assert header == {"__metadata__": {"note": "hi"}, **GOOD}
    arrays, metadata, digest = read_safetensors(pair[1])
    assert metadata == {"note": "hi"}
    assert digest == hashlib.sha256(pair[1].read_bytes()).hexdigest()
    assert arrays["weight"].dtype == np.float32
    assert arrays["weight"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_hostile_architecture_is_refused_before_allocating(tmp_path: Path) -> None:
    """A JSON asking for a huge Linear next to a small weights file fails without building it."""
    path = save(Linear(3, 2), tmp_path / "tiny")
    doc = json.loads(path.read_text())
    doc["architecture"]["config"].update(in_features=200_000, out_features=100_000)
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=r"needs 20,000,100,000 parameters and buffers but "
                       r"tiny.safetensors holds only 8"):  # fmt: skip
        load(path)
