"""The registry: the model families faceforge knows, and every table derived from their declarations.

``FAMILY_MODULES`` is the one explicit list (no folder is scanned): adding a family is its new files plus one
line here (``docs/adding-a-model.md``). Code outside this repository adds its own with
:func:`register_family`. Everything else is derived:

===========================  ======================================================================
``list_models()``            the ``model_type`` of every registered network -> its class
``list_tasks()``             training tasks for ``train/train.py --task NAME``
``evaluator_for(type)``      the function ``faceforge eval`` runs for a model type
``shipped_models()``         published short names -> description (``hub_cards/<name>``, ``faceforge/<name>``)
``default_model(role)``      the shipped model the app loads for a role (``app.au`` ...) or that scores outputs
                             (``evaluator.au`` ...)
``command_modules()``        modules of the family ``faceforge`` sub-commands
``app_tabs()``               the app's model tabs, in order
===========================  ======================================================================
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from faceforge.errors import ModelLoadError
from faceforge.family import ModelFamily, Tab, load_reference

if TYPE_CHECKING:
    from faceforge.modeling import FaceForgeModel

# The built-in families, each a module that defines FAMILY. One line per family.
FAMILY_MODULES: tuple[str, ...] = (
    "faceforge.models.au_detector",
    "faceforge.models.efgan",
    "faceforge.models.expression",
    "faceforge.models.face_alignment",
    "faceforge.models.fsrfer",
    "faceforge.models.groupgan",
    "faceforge.models.igcn",
    "faceforge.models.mpenet",
    "faceforge.models.sr_baselines",
    "faceforge.models.toy",
)

_extra: list[ModelFamily] = []


def register_family(family: ModelFamily) -> ModelFamily:
    """Add a family defined outside ``FAMILY_MODULES`` (a plug-in); returns it, so a module can write
    ``FAMILY = register_family(ModelFamily(...))``.

    Raises:
        ValueError: a name it declares (family, model type, task, shipped name, role, tab) is taken.
    """
    if not isinstance(family, ModelFamily):
        raise TypeError(f"register_family takes a ModelFamily, got {type(family).__name__}")
    if any(f is family for f in families()):
        return family
    _check([*families(), family])
    _extra.append(family)
    _clear()
    return family


def unregister_family(name: str) -> None:
    """Remove a family added by :func:`register_family` (built-in families stay)."""
    _extra[:] = [f for f in _extra if f.name != name]
    _clear()


def _clear() -> None:
    _tables.cache_clear()


@functools.cache
def _builtin() -> tuple[ModelFamily, ...]:
    found = []
    for module_name in FAMILY_MODULES:
        family = getattr(importlib.import_module(module_name), "FAMILY", None)
        if not isinstance(family, ModelFamily):
            raise RuntimeError(f"{module_name} must define FAMILY = ModelFamily(...)")
        found.append(family)
    return tuple(found)


def families() -> tuple[ModelFamily, ...]:
    """Every registered family: the built-in ones, then the plug-ins, in registration order."""
    return (*_builtin(), *_extra)


def _check(all_families: list[ModelFamily]) -> None:
    """Every declared name is unique across families; raises ValueError naming both claimants."""
    claims: dict[tuple[str, str], str] = {}

    def claim(kind: str, key: str, family: ModelFamily) -> None:
        owner = claims.setdefault((kind, key), family.name)
        if owner != family.name or (kind == "family" and sum(f.name == key for f in all_families) > 1):
            raise ValueError(f"{kind} {key!r} is declared by family {owner!r} and by {family.name!r}")

    for family in all_families:
        claim("family", family.name, family)
        for model_type in family.model_types:
            if not model_type:
                raise ValueError(f"family {family.name}: a network's config gives model_type no default")
            claim("model_type", model_type, family)
        for task in family.tasks:
            claim("task", task, family)
        for model_type in family.evaluators:
            claim("evaluator", model_type, family)
        for shipped in family.shipped:
            claim("shipped model", shipped.name, family)
            for role in shipped.roles:
                claim("role", role, family)
        for module in family.commands:
            claim("command", module, family)
        for tab in family.tabs:
            claim("tab", tab.title, family)


@functools.cache
def _tables() -> dict[str, Any]:
    all_families = families()
    _check(list(all_families))
    return {
        "models": {cls.config_class.model_type_default(): cls for f in all_families for cls in f.networks},
        "family_of": {t: f for f in all_families for t in (*f.model_types, *f.tasks)},
        "tasks": {name: ref for f in all_families for name, ref in f.tasks.items()},
        "evaluators": {t: ref for f in all_families for t, ref in f.evaluators.items()},
        "shipped": {s.name: s for f in all_families for s in f.shipped},
        "roles": {role: s.name for f in all_families for s in f.shipped for role in s.roles},
        "commands": tuple(m for f in all_families for m in f.commands),
        "tabs": tuple(sorted((t for f in all_families for t in f.tabs), key=lambda t: t.order)),
    }


# --- networks ---------------------------------------------------------------------------------------------
def get_model_class(model_type: str) -> type[FaceForgeModel]:
    """The class registered for ``model_type``.

    Raises:
        ModelLoadError: no class has that ``model_type`` (the message lists the known ones).
    """
    models = _tables()["models"]
    if model_type not in models:
        raise ModelLoadError(f"unknown model_type {model_type!r}; this faceforge knows "
                             f"{', '.join(sorted(models))} (a newer faceforge may know more)")
    return models[model_type]


def list_models() -> list[str]:
    """The registered model types, sorted."""
    return sorted(_tables()["models"])


def family_of(name: str) -> ModelFamily:
    """The family that declares a model type or a task name (KeyError if none)."""
    return _tables()["family_of"][name]


# --- training ---------------------------------------------------------------------------------------------
def list_tasks() -> list[str]:
    """The training task names, sorted."""
    return sorted(_tables()["tasks"])


def task_reference(name: str) -> str | None:
    """The ``"module:Class"`` of a task, or None."""
    return _tables()["tasks"].get(name)


# --- evaluation -------------------------------------------------------------------------------------------
def evaluator_for(model_type: str):
    """The evaluation function of a model type (``faceforge eval``), or None."""
    reference = _tables()["evaluators"].get(model_type)
    return load_reference(reference) if reference else None


# --- shipped models and roles -----------------------------------------------------------------------------
def shipped_models() -> dict[str, str]:
    """``{short name: description}`` of every published model."""
    return {name: s.description for name, s in _tables()["shipped"].items()}


def roles() -> dict[str, str]:
    """``{role: shipped name}``: ``app.<role>`` for the app, ``evaluator.<kind>`` for ``faceforge eval``."""
    return dict(_tables()["roles"])


def default_model(role: str) -> str:
    """The shipped model a role defaults to (KeyError naming the roles if none)."""
    table = _tables()["roles"]
    if role not in table:
        raise KeyError(f"unknown role {role!r}; roles: {', '.join(sorted(table))}")
    return table[role]


# --- command line and app ---------------------------------------------------------------------------------
def command_modules() -> tuple[str, ...]:
    """Modules of the families' ``faceforge`` sub-commands (each defines ``register(subparsers)``)."""
    return _tables()["commands"]


def app_tabs() -> tuple[Tab, ...]:
    """The families' app tabs, by ``order``."""
    return _tables()["tabs"]
