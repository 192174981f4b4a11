"""The models the app uses, each loaded once, by role.

The ids are shipped short names by default, each the model whose family declares the role ``app.<role>``
(``hub_cards/<name>`` in a source checkout: offline; else the Hub repo ``faceforge/<name>``), and can be
changed per role with an environment variable, e.g. ``FACEFORGE_AU_MODEL=my-org/my-au-detector python app.py``.
"""

from __future__ import annotations

import functools
import os
import threading

import torch

import faceforge
from faceforge.modeling import FaceForgeModel
from faceforge.registry import roles

_lock = threading.Lock()


def default_models() -> dict[str, str]:
    """``{role: shipped name}`` of the app's roles (``au``, ``expression``, ``mpenet`` ...)."""
    return {role.removeprefix("app."): name for role, name in roles().items() if role.startswith("app.")}


def model_id(role: str) -> str:
    """The model id the app loads for ``role`` (``FACEFORGE_<ROLE>_MODEL`` overrides the default)."""
    defaults = default_models()
    if role not in defaults:
        raise KeyError(f"unknown model role {role!r}; roles: {', '.join(defaults)}")
    return os.environ.get(f"FACEFORGE_{role.upper()}_MODEL", defaults[role])


@functools.cache
def _load(identifier: str) -> FaceForgeModel:
    return faceforge.from_pretrained(identifier)


def get_model(role: str) -> FaceForgeModel:
    """The loaded model for ``role`` (loaded on first use, then shared); ModelLoadError if it cannot be."""
    with _lock:
        return _load(model_id(role))


@torch.no_grad()
def read_face(image) -> tuple[dict[str, float], dict[str, float]]:
    """What the AU and expression models see in one aligned (H, W, 3) uint8 face:
    ({AU label: probability}, {expression: probability})."""
    from faceforge.face.aus import au_label

    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    au_model, expr_model = get_model("au"), get_model("expression")
    au_prob = au_model.predict(x)["probability"][0]
    expr_prob = torch.softmax(expr_model(x), 1)[0]
    aus = {au_label(a): float(p) for a, p in zip(au_model.config.aus, au_prob)}
    expressions = {name: float(p) for name, p in zip(expr_model.config.classes, expr_prob)}
    return aus, expressions
