"""The base of every faceforge network: a flat dataclass config, safetensors weights, strict loading.

A model is an ``nn.Module`` whose only constructor argument is its config, a flat dataclass with a
``model_type`` field. ``save_pretrained(dir)`` writes ``config.json`` (the config's fields, the model type
and the faceforge version), ``model.safetensors`` and a short ``README.md`` model card;
``faceforge.from_pretrained`` (or ``SomeModel.from_pretrained``) reads ``config.json``, picks the class from
the registry by ``model_type``, rebuilds the exact network and loads the weights strictly, in eval mode.
Weights are never pickled. A Hub repo id is fetched with ``huggingface_hub`` or, offline
(``HF_HUB_OFFLINE=1``), found in the local Hugging Face cache.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, constants, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from faceforge import __version__
from faceforge.errors import FaceForgeError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_CARD_NAME = "README.md"

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


class ModelLoadError(FaceForgeError, ValueError):
    """A model folder or Hub repo cannot be turned into a network (unknown type, bad config or weights)."""


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


# --- config ------------------------------------------------------------------------------------------
def _freeze(value: Any) -> Any:
    """JSON gives lists; configs hold (nested) tuples so they hash and compare equal after a round trip."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


_NO_MATCH = object()


def _coerce(value: Any, annotation: Any) -> Any:
    """``value`` checked against a field annotation (ints widened to float); ``_NO_MATCH`` if it does not fit.

    Understands bool, int, float, str, ``tuple[X, ...]``, ``tuple[X, Y]``, ``X | None`` and ``Literal``;
    anything else is accepted as is.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return value
    if annotation is type(None):
        return value if value is None else _NO_MATCH
    if annotation is bool:
        return value if isinstance(value, bool) else _NO_MATCH
    if annotation is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO_MATCH
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else _NO_MATCH
    if annotation is str:
        return value if isinstance(value, str) else _NO_MATCH
    if origin is Literal:
        return value if value in args else _NO_MATCH
    if origin in (typing.Union, types.UnionType):
        for alternative in args:
            coerced = _coerce(value, alternative)
            if coerced is not _NO_MATCH:
                return coerced
        return _NO_MATCH
    if origin is tuple:
        if not isinstance(value, tuple):
            return _NO_MATCH
        if len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(v, args[0]) for v in value]
        elif args:
            if len(args) != len(value):
                return _NO_MATCH
            items = [_coerce(v, a) for v, a in zip(value, args, strict=True)]
        else:
            return value
        return _NO_MATCH if any(v is _NO_MATCH for v in items) else tuple(items)
    return value


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved is not checked
        return {}


@dataclasses.dataclass
class ModelConfig:
    """Base of the flat model configs.

    Subclasses add typed fields with defaults and set ``model_type``'s default. ``__post_init__`` checks every
    field against its annotation and raises ``ValueError`` naming the field; subclasses call
    ``super().__post_init__()`` first, then check their own ranges.
    """

    model_type: str = ""

    def __post_init__(self) -> None:
        hints = _field_types(type(self))
        for f in dataclasses.fields(self):
            value = _freeze(getattr(self, f.name))
            if f.name in hints:
                coerced = _coerce(value, hints[f.name])
                if coerced is _NO_MATCH:
                    hint = hints[f.name]
                    expected = hint.__name__ if isinstance(hint, type) else str(hint)
                    raise ValueError(f"{type(self).__name__}.{f.name} must be {expected}, got {value!r}")
                value = coerced
            setattr(self, f.name, value)
        own_type = type(self).model_type_default()
        if own_type and self.model_type != own_type:
            raise ValueError(f"{type(self).__name__}.model_type is {own_type!r}, got {self.model_type!r}")

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
        """Load a saved network of this class (or a subclass) from a folder or a Hub repo id, in eval mode.

        ``FaceForgeModel.from_pretrained`` accepts any registered model; ``AUDetector.from_pretrained``
        refuses a folder holding another class. Same arguments as ``faceforge.from_pretrained``.

        Raises:
            ModelLoadError: see ``load_pretrained``; also when the folder holds another class.
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
        model = load_pretrained(model_id, revision=revision, cache_dir=cache_dir,
                                force_download=force_download, local_files_only=local_files_only, token=token,
                                map_location=map_location)
        if not isinstance(model, cls):
            raise ModelLoadError(f"{model_id} holds {type(model).__name__} (model_type "
                                 f"{model.config.model_type!r}), not {cls.__name__}; load it with "
                                 f"faceforge.from_pretrained or {type(model).__name__}.from_pretrained")
        return model

    def load_safetensors(self, path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> None:
        """Load weights strictly, turning every failure into a clear ``ModelLoadError``.

        Every tensor of the model must be in the file with the same shape and nothing else may be;
        floating-point tensors stored in another precision (e.g. fp16) are cast to the model's dtype.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"no weights file {path.name} in {path.parent}: the folder is incomplete "
                                 f"(save it with save_pretrained)")
        try:
            state = load_file(str(path), device=str(map_location))
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise ModelLoadError(f"{path} is not a readable safetensors file (corrupt or truncated?): "
                                 f"{err}") from err
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ModelLoadError(
                f"{path.name} does not match {type(self).__name__} with this config: missing tensors "
                f"{_few(missing)}, unexpected tensors {_few(unexpected)}"
            )
        wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                 for k in own if state[k].shape != own[k].shape]
        if wrong:
            raise ModelLoadError(f"{path.name} has tensors of the wrong shape for this config "
                                 f"(config.json and weights disagree): {'; '.join(wrong[:5])}")
        kinds = [f"{k}: file {state[k].dtype} vs model {own[k].dtype}" for k in own
                 if state[k].is_floating_point() != own[k].is_floating_point()]
        if kinds:
            raise ModelLoadError(f"{path.name} has tensors of the wrong kind: {'; '.join(kinds[:5])}")
        self.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


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


# --- folders and Hub repos ---------------------------------------------------------------------------
def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The content of ``folder/config.json``.

    Raises:
        ModelLoadError: no config, invalid JSON, no ``model_type``, or written by a newer faceforge.
    """
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise ModelLoadError(f"{Path(folder)} has no {CONFIG_NAME}: not a faceforge model folder")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{path} is not valid JSON ({err})") from err
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise ModelLoadError(f"{path} has no model_type: not a faceforge model config")
    saved = config.get("faceforge_version")
    if saved and _version_tuple(str(saved))[:2] > _version_tuple(__version__)[:2]:
        raise ModelLoadError(
            f"{path} was written by faceforge {saved}, newer than this faceforge {__version__}; "
            f"upgrade faceforge to load it"
        )
    return config


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.endswith("/") or name.count("/") > 1


def resolve_model_folder(repo_id_or_path: str | os.PathLike, *, revision: str | None = None,
                         cache_dir: str | os.PathLike | None = None, force_download: bool = False,
                         local_files_only: bool = False, token: str | bool | None = None) -> Path:
    """The local folder holding ``config.json`` and ``model.safetensors``.

    A local folder is used as is; a shipped model's short name (``faceforge.shipped``) is its ``hub_cards/``
    folder, or its Hub id when that folder is absent. Anything else must be a Hub repo id (``ORG/NAME``): it is fetched with
    ``huggingface_hub.snapshot_download`` (honouring ``HF_ENDPOINT``, ``HF_HOME``/``HF_HUB_CACHE`` and
    ``HF_TOKEN``), or found in the local Hugging Face cache when offline (``HF_HUB_OFFLINE=1`` or
    ``local_files_only=True``).

    Raises:
        ModelLoadError: neither a folder nor a repo id; not cached while offline; repo or revision not found.
    """
    from faceforge.shipped import shipped_location

    path = Path(repo_id_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"{path} is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    shipped = shipped_location(str(repo_id_or_path))  # a short name such as "au-detector"
    if shipped is not None and Path(shipped).is_dir():
        return Path(shipped)
    repo_id = shipped or str(repo_id_or_path)
    if _looks_like_path(repo_id):
        raise ModelLoadError(f"no model folder {repo_id} (and it is not a Hub repo id ORG/NAME)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ModelLoadError(f"{repo_id} is neither a model folder nor a Hub repo id (ORG/NAME): "
                             f"{err}") from err
    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                   force_download=force_download, local_files_only=local_files_only,
                                   token=token, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, MODEL_CARD_NAME])
    except LocalEntryNotFoundError as err:
        raise ModelLoadError(
            f"{repo_id} is not a local folder and is not in the local cache of Hugging Face downloads "
            f"({cache_dir or constants.HF_HUB_CACHE}), and the Hub cannot be reached (offline, "
            f"HF_HUB_OFFLINE=1 or local_files_only). Download it once with network access, or pass a local "
            f"folder."
        ) from err
    except RevisionNotFoundError as err:
        raise ModelLoadError(f"{repo_id} has no revision {revision!r} on the Hub") from err
    except RepositoryNotFoundError as err:
        raise ModelLoadError(
            f"{repo_id} does not exist on the Hub, or it is private or gated and no valid token was given "
            f"(pass token=..., set HF_TOKEN or run `hf auth login`)"
        ) from err
    except (HfHubHTTPError, OSError) as err:
        raise ModelLoadError(f"could not fetch {repo_id} from the Hub: {err}") from err
    return Path(folder)


def load_pretrained(repo_id_or_path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                    **resolve_kwargs: Any) -> FaceForgeModel:
    """``faceforge.from_pretrained``: the network a folder or Hub repo holds, loaded strictly, in eval mode.

    Args:
        repo_id_or_path: a folder written by ``save_pretrained`` or a Hub repo id ``ORG/NAME``.
        map_location: the device the model is placed on (default CPU).
        **resolve_kwargs: ``revision``, ``cache_dir``, ``force_download``, ``local_files_only``, ``token``
            (see ``resolve_model_folder``).

    Raises:
        ModelLoadError: unknown ``model_type``, missing or corrupt weights, shapes that do not match the
            config, a config from a newer faceforge, a Hub repo that cannot be fetched or is not cached while
            offline.
    """
    from faceforge.registry import get_model_class

    folder = resolve_model_folder(repo_id_or_path, **resolve_kwargs)
    config_dict = read_config(folder)
    cls = get_model_class(config_dict["model_type"])
    config = cls.config_class.from_dict(config_dict)
    model = cls(config).to(map_location)
    model.load_safetensors(folder / WEIGHTS_NAME, map_location=map_location)
    return model.eval()
