"""The base of every faceforge network: a flat dataclass config, safetensors weights, strict loading.

A model is an ``nn.Module`` whose only constructor argument is its config, a flat dataclass with a
``model_type`` field. ``save_pretrained(dir)`` writes ``config.json`` (the config's fields, the model type
and the faceforge version), ``model.safetensors`` and a short ``README.md`` model card;
``faceforge.from_pretrained`` (or ``SomeModel.from_pretrained``) reads ``config.json``, picks the class from
the registry by ``model_type``, rebuilds the exact network and loads the weights strictly, in eval mode.
Before anything is allocated, the network is planned on the ``meta`` device and its tensor names and shapes
are compared with the safetensors header, so a config that disagrees with its weights (or asks for a network
larger than :data:`MAX_NETWORK_VALUES`) is refused at no cost; weights with NaN or infinite values are refused.
Finding a folder (local, shipped, Hub) is :mod:`faceforge.resolve`; choosing the class is
:mod:`faceforge.loading`, above the registry, so this module imports neither the registry nor any model.
Weights are never pickled. A Hub repo id is fetched with ``huggingface_hub`` or, offline
(``HF_HUB_OFFLINE=1``), found in the local Hugging Face cache.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, ClassVar, Self

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from faceforge._version import __version__
from faceforge.config import ConfigError, coerce, describe, field_types
from faceforge.errors import ModelLoadError
from faceforge.resolve import CONFIG_NAME, WEIGHTS_NAME, read_config, resolve_model_folder

# The dtype ``save_pretrained(..., dtype=...)`` stores floating-point tensors in (None: as they are).
_SAVE_DTYPE: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar("faceforge_save_dtype",
                                                                                  default=None)

_DEFAULT_CARD = """---
{{ card_data }}
---

# {{ class_name }}

A faceforge `{{ model_type }}` checkpoint: `config.json` holds the exact constructor config and
`model.safetensors` the weights. Load it with faceforge:

```python
import faceforge

model = faceforge.from_pretrained("{{ repo_id | default("path/to/this/folder", true) }}")  # eval mode
```

This card records no training data, hardware or evaluation results. Published faceforge models carry a full
card written by `faceforge.hub.write_model_card`.
"""


# The largest network ``from_folder`` builds, in tensor values (8 GiB in float32): a config.json asking for more
# is refused before anything is allocated.
MAX_NETWORK_VALUES = 2**31

# --- config ------------------------------------------------------------------------------------------
def _freeze(value: Any) -> Any:
    """JSON gives lists; configs hold (nested) tuples so they hash and compare equal after a round trip."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


@dataclasses.dataclass
class ModelConfig:
    """Base of the flat model configs.

    Subclasses add typed fields with defaults and set ``model_type``'s default. ``__post_init__`` checks every
    field against its annotation with the engine of :mod:`faceforge.config` (strict typing: what JSON reloads
    is what was saved) and raises ``ConfigError`` (a ``ValueError``) naming the field and what it allows;
    subclasses call ``super().__post_init__()`` first, then check their own ranges.
    """

    model_type: str = ""

    def __post_init__(self) -> None:
        hints = field_types(type(self))
        for f in dataclasses.fields(self):
            value = _freeze(getattr(self, f.name))
            if f.name in hints:
                try:
                    value = coerce(value, hints[f.name], mode="strict")
                except (TypeError, ValueError):
                    raise ConfigError(f"{type(self).__name__}.{f.name} must be {describe(hints[f.name])}, "
                                      f"got {value!r}") from None
            setattr(self, f.name, value)
        own_type = type(self).model_type_default()
        if own_type and self.model_type != own_type:
            raise ValueError(f"{type(self).__name__}.model_type is {own_type!r}, got {self.model_type!r}")

    def check_range(self, *names: str, low: float, high: float) -> None:
        """Refuse a field outside ``[low, high]`` (NaN included) with a ``ValueError`` naming it.

        Subclasses call it from ``__post_init__``; ``high`` is a sane bound that keeps a config (a hand-edited or
        hostile ``config.json`` included) from asking for an absurdly large network or input.
        """
        for name in names:
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{type(self).__name__}.{name} must be in [{low}, {high}], got {value!r}")

    @classmethod
    def model_type_default(cls) -> str:
        """The ``model_type`` this config class stands for (its field default)."""
        return cls.__dataclass_fields__["model_type"].default

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (tuples become lists when written)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build the config from ``config.json`` content.

        Raises:
            ModelLoadError: a key this version does not know (the model is from a newer faceforge) or a value
                the config refuses.
        """
        data = dict(data)
        data.pop("faceforge_version", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelLoadError(
                f"{cls.__name__} does not know the config keys {unknown}; the model was probably saved by a "
                f"newer faceforge (this is {__version__}). Upgrade faceforge to load it."
            )
        try:
            return cls(**data)
        except ValueError as err:
            raise ModelLoadError(f"the saved config is not a valid {cls.__name__}: {err}") from err


# --- model -------------------------------------------------------------------------------------------
class FaceForgeModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="faceforge",
    license="apache-2.0",
    tags=["faceforge", "faces"],
    model_card_template=_DEFAULT_CARD,
):
    """Base class: ``config_class`` names the config dataclass; ``__init__(config)`` builds the network.

    Subclasses override ``tiny_config`` (a config that runs fast in tests) and, when their input is not one
    image batch of ``config.image_size``, ``example_inputs``.
    """

    config_class: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        self.config = config

    @classmethod
    def tiny_config(cls) -> ModelConfig:
        """A small config for tests (fast forward pass); subclasses override where the default is large."""
        return cls.config_class()

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """Positional arguments of ``forward`` for a test pass: by default one (B, 3, S, S) batch in [0, 1].

        ``S`` is ``config.image_size``; models with other inputs override this.
        """
        size = getattr(self.config, "image_size", None)
        if size is None:
            raise NotImplementedError(f"{type(self).__name__} must define example_inputs "
                                      f"(its config has no image_size)")
        generator = torch.Generator().manual_seed(seed)
        return (torch.rand(batch_size, 3, size, size, generator=generator),)

    def output_shapes(self, batch_size: int) -> Any:
        """The documented shapes of ``forward``'s output for ``example_inputs(batch_size)``: a shape tuple, or the
        output's structure (dict, tuple) with a shape tuple (or None) for each tensor. The registry's tests check
        every network against it."""
        raise NotImplementedError(f"{type(self).__name__} must document its output shapes (output_shapes)")

    # --- saving ------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, *, dtype: torch.dtype | None = None,
                        **kwargs: Any) -> str | None:
        """Write ``config.json``, ``model.safetensors`` and (if absent) a short ``README.md`` card.

        Args:
            save_directory: the folder (created if needed).
            dtype: store floating-point tensors in this dtype (e.g. ``torch.float16`` halves the file);
                integer buffers keep theirs. Loading casts back to the model's dtype. Default: as they are.
                It applies to this folder; publish the folder itself with ``faceforge push``.
            **kwargs: passed to ``PyTorchModelHubMixin.save_pretrained`` (``push_to_hub``, ``repo_id``,
                ``model_card_kwargs``...).
        """
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
        token = _SAVE_DTYPE.set(dtype)
        try:
            return super().save_pretrained(save_directory, **kwargs)
        finally:
            _SAVE_DTYPE.reset(token)

    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        config = {**self.config.to_dict(), "faceforge_version": __version__}
        (save_directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        dtype = _SAVE_DTYPE.get()
        state = {}
        for k, v in self.state_dict().items():
            v = v.detach()
            if dtype is not None and v.is_floating_point():
                v = v.to(dtype)
            state[k] = v.cpu().contiguous()
        save_file(_untie(state), str(save_directory / WEIGHTS_NAME),
                  metadata={"format": "pt", "model_type": self.config.model_type})

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The short card ``save_pretrained`` writes when the folder has none (how to load; no results)."""
        kwargs.setdefault("class_name", type(self).__name__)
        kwargs.setdefault("model_type", self.config.model_type)
        return super().generate_model_card(*args, **kwargs)

    # --- loading -----------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *,
                        force_download: bool = False, token: str | bool | None = None,
                        cache_dir: str | os.PathLike | None = None,
                        local_files_only: bool = False, revision: str | None = None,
                        map_location: str | torch.device = "cpu", strict: bool = True,
                        **model_kwargs: Any) -> Self:
        """Load a saved network of exactly this class from a folder, a shipped name or a Hub repo id, in eval
        mode. ``faceforge.from_pretrained`` loads whichever registered class a folder holds.

        Same arguments as ``faceforge.from_pretrained``.

        Raises:
            ModelLoadError: see ``faceforge.loading.load_pretrained``; also when the folder holds another model
                type (or this is the abstract base class).
        """
        return cls._from_pretrained(model_id=str(pretrained_model_name_or_path), revision=revision,
                                    cache_dir=cache_dir, force_download=force_download,
                                    local_files_only=local_files_only, token=token, map_location=map_location,
                                    strict=strict, **model_kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None = None, cache_dir=None,
                         force_download: bool = False, local_files_only: bool = False, token=None,
                         map_location: str | torch.device = "cpu", strict: bool = True,
                         **model_kwargs: Any) -> Self:
        if model_kwargs:
            raise TypeError(f"{cls.__name__}.from_pretrained got unexpected arguments "
                            f"{sorted(model_kwargs)}; the network is rebuilt from config.json alone")
        if not strict:
            raise ValueError("faceforge loads weights strictly (every tensor, matching shapes); strict=False "
                             "is not supported")
        own_type = cls.config_class.model_type_default()
        if not own_type:
            raise ModelLoadError(f"{cls.__name__} is a base class: load a saved model with "
                                 f"faceforge.from_pretrained, which picks the class from config.json")
        folder = resolve_model_folder(model_id, revision=revision, cache_dir=cache_dir,
                                      force_download=force_download, local_files_only=local_files_only,
                                      token=token)
        config_dict = read_config(folder)
        if config_dict["model_type"] != own_type:
            raise ModelLoadError(f"{model_id} holds a {config_dict['model_type']!r} model, not {cls.__name__} "
                                 f"({own_type!r}); load it with faceforge.from_pretrained")
        return cls.from_folder(folder, config_dict, map_location=map_location)

    @classmethod
    def from_folder(cls, folder: Path, config_dict: dict[str, Any], *,
                    map_location: str | torch.device = "cpu") -> Self:
        """The network of ``config_dict`` (a read ``config.json``) with the weights of ``folder``, in eval mode.

        The network is first built on the ``meta`` device (no memory): its size must stay within
        :data:`MAX_NETWORK_VALUES` and its tensor names, shapes and kinds must match the safetensors header
        before the real network is built and the weights are read.

        Raises:
            ModelLoadError: an invalid config, missing or unreadable weights, a network too large or not the one
                the weights were saved from, non-finite weights.
        """
        config = cls.config_class.from_dict(config_dict)
        weights = Path(folder) / WEIGHTS_NAME
        stored = _read_header(weights)
        try:
            with torch.device("meta"):
                planned = _tensor_specs(cls(config).state_dict())
        except (TypeError, ValueError) as err:
            raise ModelLoadError(f"the saved config does not build a {cls.__name__}: {err}") from err
        _check_size(planned, stored, weights, cls.__name__)
        _check_match(planned, stored, weights, cls.__name__)
        model = cls(config).to(map_location)
        model.load_safetensors(weights, map_location=map_location)
        return model.eval()

    def load_safetensors(self, path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> None:
        """Load weights strictly, turning every failure into a clear ``ModelLoadError``.

        Every tensor of the model must be in the file with the same shape and nothing else may be (checked on
        the file's header, before any tensor is read); floating-point tensors stored in another precision
        (e.g. fp16) are cast to the model's dtype; NaN or infinite values are refused.
        """
        path = Path(path)
        own = self.state_dict()
        _check_match(_tensor_specs(own), _read_header(path), path, type(self).__name__)
        try:
            state = load_file(str(path), device=str(map_location))
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise ModelLoadError(f"{path} is not a readable safetensors file (corrupt or truncated?): "
                                 f"{err}") from err
        for k in own:
            if state[k].is_floating_point() and not torch.isfinite(state[k]).all():
                raise ModelLoadError(f"{path.name} holds NaN or infinite values in {k}: the weights are corrupt "
                                     f"(or were saved from a diverged training run)")
        self.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


# --- checking weights against a network before loading them ---------------------------------------------------
# name -> (shape, dtype, floating point?): what a network expects (built on the meta device) or a file's header
# holds (its dtypes as safetensors spells them: F32, BF16, I64 ...).
TensorSpecs = dict[str, tuple[tuple[int, ...], str, bool]]


def _tensor_specs(state: dict[str, torch.Tensor]) -> TensorSpecs:
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch."), v.is_floating_point())
            for k, v in state.items()}


def _read_header(path: Path) -> TensorSpecs:
    """The tensors a safetensors file holds, from its header alone (no tensor is read).

    Raises:
        ModelLoadError: no such file, or not a readable safetensors file.
    """
    if not path.is_file():
        raise ModelLoadError(f"no weights file {path.name} in {path.parent}: the folder is incomplete "
                             f"(save it with save_pretrained)")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            specs = {}
            for k in f.keys():
                tensor = f.get_slice(k)
                dtype = tensor.get_dtype()  # F16, BF16, F32, F8_E4M3 ... are floating point; I*, U*, BOOL are not
                specs[k] = (tuple(tensor.get_shape()), dtype, dtype.startswith(("F", "BF")))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ModelLoadError(f"{path} is not a readable safetensors file (corrupt or truncated?): {err}") from err
    return specs


def _check_size(planned: TensorSpecs, stored: TensorSpecs, path: Path, name: str) -> None:
    """Refuse a network over :data:`MAX_NETWORK_VALUES`, or far larger than what the weights file holds."""
    values = sum(math.prod(shape) for shape, _, _ in planned.values())
    in_file = sum(math.prod(shape) for shape, _, _ in stored.values())
    if values > MAX_NETWORK_VALUES:
        raise ModelLoadError(f"config.json in {path.parent} builds {name} with {values:,} values "
                             f"({values * 4 / 2**30:,.1f} GiB in float32), more than faceforge loads "
                             f"({MAX_NETWORK_VALUES:,}): the config is corrupt or was edited")
    if values > 4 * in_file + 2**20:
        raise ModelLoadError(f"config.json in {path.parent} builds {name} with {values:,} values but {path.name} "
                             f"holds {in_file:,}: config.json and the weights disagree (was config.json edited?)")


def _check_match(planned: TensorSpecs, stored: TensorSpecs, path: Path, name: str) -> None:
    """Every planned tensor is in the file with the same shape and kind (floating or not), and nothing else is."""
    missing = sorted(set(planned) - set(stored))
    unexpected = sorted(set(stored) - set(planned))
    if missing or unexpected:
        raise ModelLoadError(
            f"{path.name} does not match {name} with this config: missing tensors "
            f"{_few(missing)}, unexpected tensors {_few(unexpected)}"
        )
    wrong = [f"{k}: file {stored[k][0]} vs model {planned[k][0]}" for k in planned if stored[k][0] != planned[k][0]]
    if wrong:
        raise ModelLoadError(f"{path.name} has tensors of the wrong shape for this config "
                             f"(config.json and weights disagree): {'; '.join(wrong[:5])}")
    kinds = [f"{k}: file {stored[k][1]} vs model {planned[k][1]}" for k in planned
             if stored[k][2] != planned[k][2]]
    if kinds:
        raise ModelLoadError(f"{path.name} has tensors of the wrong kind: {'; '.join(kinds[:5])}")


def _few(names: list[str]) -> str:
    return str(names[:5])[:-1] + (", ...]" if len(names) > 5 else "]")


def _untie(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses shared storage; give every tensor its own."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else id(v)
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out
