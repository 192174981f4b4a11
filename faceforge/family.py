"""What a model family (one paper, or one prior network) declares about itself, in one place beside its code.

Each family module (``faceforge/models/<name>.py``) ends with one :class:`ModelFamily`::

    FAMILY = ModelFamily(
        name="mpenet",
        summary="x8 face super-resolution with landmark and AU priors",
        paper=Paper(title="...", authors="...", venue="...", year=2021),
        networks=(MPENet, MPEGANDiscriminator),
        tasks={"mpenet": "faceforge.training.tasks.mpenet:MPENetTask", ...},
        evaluators={"mpenet": "faceforge.evaluation:evaluate_super_resolution"},
        shipped=(Shipped("mpenet", "MPENet: ...", roles=("app.mpenet",)), ...),
        commands=("faceforge.commands.restore",),
        tabs=(Tab("Restoration", "faceforge.demo.restore_tab:build_restore_tab", order=10),),
    )

and ``faceforge/registry.py`` lists the family modules. Every table faceforge needs is derived from these
declarations: the model types (``faceforge.list_models``), the training tasks, the evaluators of ``faceforge
eval``, the shipped models and their Hub ids, the models the app loads by role, the CLI sub-commands and the
app's tabs.

Networks are classes (a family module defines them). Everything that would import the training stack, Gradio
or the evaluation code is a reference ``"package.module:attribute"`` that is imported when used, so reading
the registry stays cheap and no import cycle can form; ``tests/test_registry.py`` imports every reference.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["ModelFamily", "Paper", "Shipped", "Tab", "load_reference"]


@dataclasses.dataclass(frozen=True)
class Paper:
    """The paper a family implements, as a reader outside this repository would find it."""

    title: str
    authors: str
    venue: str
    year: int

    def citation(self) -> str:
        """``Authors, "Title", Venue Year``."""
        return f'{self.authors}, "{self.title}", {self.venue} {self.year}'


@dataclasses.dataclass(frozen=True)
class Shipped:
    """A model faceforge publishes: its short name is its ``hub_cards/`` folder and its Hub repo ``faceforge/<name>``.

    Args:
        name: the short name (``au-detector``).
        description: one line for listings.
        roles: what it is the default for: ``"app.<role>"`` (the model the app loads for ``role``) or
            ``"evaluator.<kind>"`` (the separately trained network ``faceforge eval`` scores outputs with).
    """

    name: str
    description: str
    roles: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Tab:
    """An app tab: ``build`` (a reference) creates its components inside ``gr.Tab(title)``; tabs are shown by
    ``order``."""

    title: str
    build: str
    order: int


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """One model family's declaration; see the module docstring.

    Args:
        name: the family's name (``mpenet``).
        summary: one line.
        networks: its :class:`~faceforge.modeling.FaceForgeModel` classes (each config's ``model_type`` names
            it in ``config.json``).
        paper: the paper it implements (None for faceforge's own prior networks).
        tasks: ``{task name: "module:TaskClass"}`` for ``train/train.py --task NAME``.
        evaluators: ``{model_type: "module:function"}`` for ``faceforge eval``; a function
            ``(model, dataset, **kwargs) -> {"table": ..., "details": ...}``.
        shipped: the models it publishes.
        commands: modules of ``faceforge`` sub-commands (each defines ``register(subparsers)``).
        tabs: its app tabs.
    """

    name: str
    summary: str
    networks: tuple[type, ...]
    paper: Paper | None = None
    tasks: Mapping[str, str] = dataclasses.field(default_factory=dict)
    evaluators: Mapping[str, str] = dataclasses.field(default_factory=dict)
    shipped: tuple[Shipped, ...] = ()
    commands: tuple[str, ...] = ()
    tabs: tuple[Tab, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.networks:
            raise ValueError("a ModelFamily needs a name and at least one network class")
        for reference in (*self.tasks.values(), *self.evaluators.values(), *(t.build for t in self.tabs)):
            _split(reference)
        for module in self.commands:
            if ":" in module or not module:
                raise ValueError(f"family {self.name}: commands are module names, got {module!r}")

    @property
    def model_types(self) -> tuple[str, ...]:
        """The ``model_type`` of each network."""
        return tuple(cls.config_class.model_type_default() for cls in self.networks)


def _split(reference: str) -> tuple[str, str]:
    module, sep, attribute = reference.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"a reference is 'package.module:attribute', got {reference!r}")
    return module, attribute


def load_reference(reference: str) -> Any:
    """The object a ``"package.module:attribute"`` reference names (importing its module).

    Raises:
        ImportError: the module or the attribute does not exist.
    """
    module, attribute = _split(reference)
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ImportError(f"{module} has no {attribute!r} (reference {reference!r})") from None
    return found
