"""``faceforge.from_pretrained``: the network any folder, shipped name or Hub repo holds, whatever its class.

It reads ``config.json``, picks the class registered for its ``model_type`` (:mod:`faceforge.registry`) and
loads the weights strictly. It stands above the registry; :mod:`faceforge.modeling` stands below it.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

import torch

from faceforge.errors import ModelLoadError
from faceforge.modeling import FaceForgeModel
from faceforge.registry import get_model_class, shipped_models
from faceforge.resolve import is_short_name, read_config, resolve_model_folder


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
    name = str(repo_id_or_path)
    if is_short_name(name) and not os.path.isdir(os.path.expanduser(name)) and name not in shipped_models():
        close = difflib.get_close_matches(name, list(shipped_models()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ModelLoadError(f"{name!r} is no local folder and no shipped model{hint}; the shipped models are "
                             f"{', '.join(sorted(shipped_models()))}; or pass a folder or a Hub id ORG/NAME")
    folder = resolve_model_folder(repo_id_or_path, **resolve_kwargs)
    config_dict = read_config(folder)
    cls = get_model_class(config_dict["model_type"])
    return cls.from_folder(folder, config_dict, map_location=map_location)
