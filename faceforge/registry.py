"""The one explicit registry of faceforge networks: ``model_type`` -> class.

Add a model by importing its class in ``_build`` and adding it to ``classes``; nothing is discovered by
scanning, so every ``model_type`` in a ``config.json`` leads to one line here and from there to its file.
"""

from __future__ import annotations

import functools

from faceforge.modeling import FaceForgeModel, ModelLoadError


@functools.cache
def _build() -> dict[str, type[FaceForgeModel]]:
    from faceforge.models.au_detector import AUDetector
    from faceforge.models.expression import ExpressionClassifier
    from faceforge.models.face_alignment import FaceAlignment
    from faceforge.models.mpenet import MPEGANDiscriminator, MPENet

    classes: tuple[type[FaceForgeModel], ...] = (AUDetector, ExpressionClassifier, FaceAlignment, MPENet,
                                             MPEGANDiscriminator)
    registry: dict[str, type[FaceForgeModel]] = {}
    for cls in classes:
        model_type = cls.config_class.model_type_default()
        if not model_type:
            raise RuntimeError(f"{cls.__name__}.config_class gives model_type no default")
        if model_type in registry:
            raise RuntimeError(f"model_type {model_type!r} is claimed by {registry[model_type].__name__} "
                               f"and {cls.__name__}")
        registry[model_type] = cls
    return registry


def get_model_class(model_type: str) -> type[FaceForgeModel]:
    """The class registered for ``model_type``.

    Raises:
        ModelLoadError: no class has that ``model_type`` (the message lists the known ones).
    """
    registry = _build()
    if model_type not in registry:
        raise ModelLoadError(f"unknown model_type {model_type!r}; this faceforge knows "
                             f"{', '.join(sorted(registry))} (a newer faceforge may know more)")
    return registry[model_type]


def list_models() -> list[str]:
    """The registered model types, sorted."""
    return sorted(_build())
