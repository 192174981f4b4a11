"""Where a model's files are: a local folder, a shipped model's ``hub_cards/`` folder, or a Hub repo.

Nothing here knows any network class: :mod:`faceforge.modeling` (one class) and :mod:`faceforge.loading`
(any registered class) both stand on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from faceforge._version import __version__
from faceforge.errors import ModelLoadError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_CARD_NAME = "README.md"
HUB_ORG = "faceforge"
# The published models of a source checkout: hub_cards/<short name>/{config.json, model.safetensors, README.md}
HUB_CARDS = Path(__file__).resolve().parents[1] / "hub_cards"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def is_short_name(name: str) -> bool:
    """Whether ``name`` reads as a shipped model's short name (``au-detector``): no slash, no path."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith((".", "~"))


def shipped_location(name: str) -> str | None:
    """A short name's local ``hub_cards/`` folder (present in a source checkout) or its Hub id
    (``faceforge/<name>``); None for anything that is not a short name."""
    if not is_short_name(name):
        return None
    folder = HUB_CARDS / name
    if (folder / CONFIG_NAME).is_file():
        return str(folder)
    return f"{HUB_ORG}/{name}"


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

    A local folder is used as is; a bare name (``au-detector``) is a shipped model: its ``hub_cards/`` folder
    in a source checkout, else the Hub repo ``faceforge/<name>``. Anything else must be a Hub repo id
    (``ORG/NAME``): it is fetched with
    ``huggingface_hub.snapshot_download`` (honouring ``HF_ENDPOINT``, ``HF_HOME``/``HF_HUB_CACHE`` and
    ``HF_TOKEN``), or found in the local Hugging Face cache when offline (``HF_HUB_OFFLINE=1`` or
    ``local_files_only=True``).

    Raises:
        ModelLoadError: neither a folder nor a repo id; not cached while offline; repo or revision not found.
    """
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
