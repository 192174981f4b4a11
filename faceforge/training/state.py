"""Training state as safetensors plus JSON, written and read without pickle.

A state tree (what ``state_dict()`` returns for an optimizer, an LR scheduler or a gradient scaler, or
:func:`rng_state`) is split by :func:`flatten` into its tensors, saved with safetensors, and the rest, saved
as JSON, where each tensor appears as ``{"__tensor__": KEY}`` (KEY: its path in the tree,
``optimizers.g.state.0.exp_avg``).
Python types that JSON lacks are tagged, so that :func:`unflatten` rebuilds the tree exactly:

    {"__tuple__": [...]}                  a tuple (Adam's ``betas``)
    {"__items__": [[key, value], ...]}    a dict whose keys are not all strings (an optimizer's ``state``)
    {"__counter__": [[key, value], ...]}  a ``collections.Counter`` (``MultiStepLR``'s milestones)
    {"__float__": "nan" | "inf" | "-inf"} a float JSON cannot spell

Anything else in a tree (objects, functions, numpy values) is refused with a ``TypeError`` when saving rather
than pickled. Reading never unpickles: a file that does not parse, or a tree that names a tensor the
safetensors file lacks, raises :class:`StateError`.
"""

from __future__ import annotations

import collections
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save_file

TAGS = ("__tensor__", "__tuple__", "__items__", "__counter__", "__float__")


class StateError(ValueError):
    """A state file that cannot be read back: missing, truncated, not JSON or safetensors, or inconsistent."""


# --- trees <-> JSON + tensors -------------------------------------------------------------------------------
def flatten(tree: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split ``tree`` into a JSON-able tree and its tensors (by key); :func:`unflatten` inverts it.

    Raises:
        TypeError: a value that is none of dict, ``Counter``, list, tuple, str, int, float, bool, None or a
            tensor (named by its path in the tree).
    """
    tensors: dict[str, torch.Tensor] = {}

    def key_for(path: list[str]) -> str:
        key = ".".join(path) or "tensor"
        unique, n = key, 1
        while unique in tensors:  # only for keys that themselves hold dots
            unique, n = f"{key}#{n}", n + 1
        return unique

    def encode(value: Any, path: list[str]) -> Any:
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, torch.Tensor):
            key = key_for(path)
            tensors[key] = value
            return {"__tensor__": key}
        if isinstance(value, tuple):
            return {"__tuple__": [encode(v, [*path, str(i)]) for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, [*path, str(i)]) for i, v in enumerate(value)]
        if type(value) is collections.Counter:
            return {"__counter__": [[encode(k, [*path, "key"]), encode(v, [*path, str(k)])]
                                    for k, v in value.items()]}
        if type(value) is dict:
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: encode(v, [*path, k]) for k, v in value.items()}
            return {"__items__": [[encode(k, [*path, "key"]), encode(v, [*path, str(k)])]
                                  for k, v in value.items()]}
        where = ".".join(path) or "the root"
        raise TypeError(f"cannot save {type(value).__name__} at {where} as safetensors + JSON")

    return encode(tree, []), tensors


def unflatten(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The tree :func:`flatten` split, with its tensors put back.

    Raises:
        StateError: a malformed tag, or a tensor key that ``tensors`` lacks.
    """

    def decode(value: Any) -> Any:
        if isinstance(value, list):
            return [decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1 and next(iter(value)) in TAGS:
            tag, body = next(iter(value.items()))
            if tag == "__tensor__":
                if not isinstance(body, str) or body not in tensors:
                    raise StateError(f"the JSON names a tensor {body!r} that the safetensors file lacks")
                return tensors[body]
            if tag == "__float__":
                if body not in ("nan", "inf", "-inf"):
                    raise StateError(f"bad float {body!r}")
                return float(body)
            if not isinstance(body, list):
                raise StateError(f"{tag} holds {type(body).__name__}, not a list")
            if tag == "__tuple__":
                return tuple(decode(v) for v in body)
            if not all(isinstance(pair, list) and len(pair) == 2 for pair in body):
                raise StateError(f"{tag} must hold [key, value] pairs")
            items = [(_hashable(decode(k)), decode(v)) for k, v in body]
            return collections.Counter(dict(items)) if tag == "__counter__" else dict(items)
        return {k: decode(v) for k, v in value.items()}

    return decode(tree)


def _hashable(key: Any) -> Any:
    if isinstance(key, (list, dict, torch.Tensor)):
        raise StateError(f"a dict key must be a number, string or tuple, got {type(key).__name__}")
    return key


# --- files ----------------------------------------------------------------------------------------------------
def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Write ``tensors`` to a safetensors file (CPU copies, so tied or strided tensors are fine)."""
    save_file({k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}, str(path),
              metadata={"format": "pt"})


def parse_tensors(data: bytes, name: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file's bytes.

    Raises:
        StateError: the bytes are no complete safetensors file.
    """
    try:
        return load_safetensors_bytes(data)
    except (SafetensorError, ValueError, OverflowError) as err:
        raise StateError(f"{name} is no readable safetensors file ({err})") from err


def parse_json(data: bytes, name: str) -> Any:
    """The JSON value of a file's bytes (strict JSON: no NaN or Infinity).

    Raises:
        StateError: the bytes are not UTF-8 JSON.
    """

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError) as err:
        raise StateError(f"{name} is not valid JSON ({err})") from err


def dump_json(value: Any) -> str:
    """Strict, compact JSON (state trees are long lists of numbers)."""
    return json.dumps(value, allow_nan=False, separators=(",", ":")) + "\n"


def save_tree(tree: Any, folder: Path, stem: str) -> list[str]:
    """Write ``tree`` as ``<stem>.json`` plus, when it holds tensors, ``<stem>.safetensors``; returns the
    names of the files written."""
    encoded, tensors = flatten(tree)
    names = [f"{stem}.json"]
    (folder / names[0]).write_text(dump_json(encoded))
    if tensors:
        names.append(f"{stem}.safetensors")
        save_tensors(tensors, folder / names[1])
    return names


def parse_tree(encoded: Any, tensor_data: bytes | None, name: str) -> Any:
    """The tree :func:`save_tree` wrote, from its parsed JSON and its safetensors bytes (None: no file)."""
    tensors = parse_tensors(tensor_data, f"{name}.safetensors") if tensor_data is not None else {}
    try:
        return unflatten(encoded, tensors)
    except StateError as err:
        raise StateError(f"{name}: {err}") from err


# --- random number generators ---------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """This process's RNG states: python ``random``, numpy's global RNG, torch's CPU generator and, where
    there are any, every CUDA device's (or the MPS) generator. Tensors (uint8 generator states, numpy's 624
    MT19937 words as int64) and numbers only, for :func:`save_tree`."""
    version, internal, gauss_next = random.getstate()
    algorithm, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {"algorithm": algorithm, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    elif torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (device generators where this machine has them).

    Raises:
        StateError: a state of the wrong shape or type (checked before any generator is touched).
    """
    python_state, numpy_state, torch_state = _checked_rng_state(state)
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)
    if "cuda" in state and torch.cuda.is_available():
        for device, generator in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(generator, device)
    elif "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])


def check_rng_state(state: Any) -> None:
    """Raise :class:`StateError` unless ``state`` is what :func:`rng_state` returns."""
    _checked_rng_state(state)


def _checked_rng_state(state: Any) -> tuple[tuple, tuple, torch.Tensor]:
    """python's, numpy's and torch's states as their ``setstate`` functions take them."""
    try:
        py, npy, torch_state = state["python"], state["numpy"], state["torch"]
        internal, keys = py["internal"], npy["keys"]
        if py["version"] != 3 or len(internal) != 625 or not all(type(v) is int for v in internal):
            raise StateError("python's state must be version 3 with 625 words")
        if npy["algorithm"] != "MT19937" or not isinstance(keys, torch.Tensor) or keys.shape != (624,):
            raise StateError("numpy's state must be MT19937 with 624 key words")
        if not isinstance(torch_state, torch.Tensor) or torch_state.dtype != torch.uint8:
            raise StateError("torch's generator state must be a uint8 tensor")
        devices = state.get("cuda", [])
        if not isinstance(devices, list) or not all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8
                                                    for t in devices):
            raise StateError("the CUDA generator states must be uint8 tensors")
        gauss_next = py["gauss_next"]
        python_state = (3, tuple(internal), None if gauss_next is None else float(gauss_next))
        numpy_state = ("MT19937", keys.numpy().astype(np.uint32), int(npy["pos"]), int(npy["has_gauss"]),
                       float(npy["cached_gaussian"]))
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, StateError):
            raise
        raise StateError(f"malformed random states ({type(err).__name__}: {err})") from err
    return python_state, numpy_state, torch_state
