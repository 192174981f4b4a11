"""Publishing to the Hugging Face Hub: model cards and ``faceforge push``.

``write_model_card`` writes a folder's ``README.md``: YAML front matter the Hub reads (``library_name:
faceforge``, ``pipeline_tag``, ``license``, ``tags``, ``datasets``, ``base_model``, and a ``model-index`` with
the measured results) followed by the summary, how to load the model, the training data and hardware
actually used, and the results table. Training calls it when a run ends.

``push_model_folder`` checks that a folder loads strictly (``config.json``, ``model.safetensors``) and carries
such a card, then uploads it with ``HfApi.create_repo(..., exist_ok=True)`` + ``upload_folder``. Without a
network it fails with a clear ``PushError`` instead of a transport traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.repocard import metadata_load
from huggingface_hub.utils import validate_repo_id

from faceforge.errors import FaceForgeError, ModelLoadError
from faceforge.loading import load_pretrained
from faceforge.modeling import FaceForgeModel
from faceforge.resolve import MODEL_CARD_NAME, WEIGHTS_NAME

LIBRARY_NAME = "faceforge"
# Weights faceforge never publishes: pickles run code when loaded.
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")

_METRIC_REQUIRED = ("name", "type", "value", "dataset_name", "dataset_type")
_METRIC_OPTIONAL = ("dataset_split", "dataset_config", "task_type", "task_name")


class PushError(FaceForgeError, RuntimeError):
    """A folder cannot be published (incomplete folder or card, Hub unreachable, credentials refused)."""


# --- model cards -------------------------------------------------------------------------------------
def _eval_result(metric: Mapping[str, Any], pipeline_tag: str) -> EvalResult:
    missing = [k for k in _METRIC_REQUIRED if k not in metric]
    unknown = sorted(set(metric) - set(_METRIC_REQUIRED) - set(_METRIC_OPTIONAL))
    if missing or unknown:
        raise ValueError(f"metric {dict(metric)} must have the keys {list(_METRIC_REQUIRED)} and may have "
                         f"{list(_METRIC_OPTIONAL)}; missing {missing}, unknown {unknown}")
    value = metric["value"]
    if hasattr(value, "item"):  # numpy / torch scalars from the evaluation code: plain numbers in the YAML
        value = value.item()
    return EvalResult(
        task_type=metric.get("task_type", pipeline_tag),
        task_name=metric.get("task_name"),
        dataset_type=metric["dataset_type"],
        dataset_name=metric["dataset_name"],
        dataset_split=metric.get("dataset_split"),
        dataset_config=metric.get("dataset_config"),
        metric_type=metric["type"],
        metric_name=metric["name"],
        metric_value=value,
    )


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_model_card(*, title: str, summary: str, pipeline_tag: str, datasets: Sequence[str],
                      metrics: Sequence[Mapping[str, Any]], training: Mapping[str, Any],
                      usage: str | None = None, repo_id: str | None = None, tags: Sequence[str] = (),
                      license: str = "apache-2.0", base_model: str | Sequence[str] | None = None,
                      sections: Mapping[str, str] | None = None) -> ModelCard:
    """A model card: Hub metadata (YAML front matter) and the markdown a person reads.

    Args:
        title: the card's heading and ``model-index`` name, e.g. ``"faceforge AU detector (ResNet-18)"``.
        summary: one paragraph: what the model does and what it was trained on.
        pipeline_tag: the Hub task, e.g. ``"image-classification"`` or ``"image-to-image"``.
        datasets: the datasets the weights were trained on (Hub dataset ids where they exist).
        metrics: measured results, each ``{"name": "mean AU F1", "type": "f1", "value": 0.61,
            "dataset_name": "FaceForge-Synth", "dataset_type": "faceforge-synth", "dataset_split": "test"}``
            (optional ``dataset_config``, ``task_type`` (default ``pipeline_tag``), ``task_name``).
        training: how the weights were made, rendered as a table in this order; must hold ``"data"`` (the
            data actually used: set, split, size) and ``"hardware"``; e.g. also ``"command"``, ``"steps"``,
            ``"time"``.
        usage: python code that loads and runs the model; default: ``faceforge.from_pretrained(repo_id)``.
        repo_id: the Hub repo the card is for (used by the default ``usage``).
        tags: Hub tags added to ``faceforge``.
        license: the weights' license (a Hub license id).
        base_model: Hub id(s) of the model(s) this one was fine-tuned from, if any.
        sections: further markdown sections, heading -> text (limitations, citation...).

    Raises:
        ValueError: a metric without its required keys or with unknown ones; ``training`` without
            ``data`` or ``hardware``; an empty ``title``, ``summary`` or ``pipeline_tag``.
    """
    for name, value in (("title", title), ("summary", summary), ("pipeline_tag", pipeline_tag)):
        if not str(value).strip():
            raise ValueError(f"{name} must not be empty")
    absent = [k for k in ("data", "hardware") if not str(training.get(k, "")).strip()]
    if absent:
        raise ValueError(f"training must say {absent}: the card records the data actually used and the "
                         f"hardware")
    results = [_eval_result(m, pipeline_tag) for m in metrics]
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag=pipeline_tag,
        license=license,
        tags=[LIBRARY_NAME, *[t for t in tags if t != LIBRARY_NAME]],
        datasets=list(datasets) or None,
        base_model=(base_model if isinstance(base_model, str) else list(base_model)) if base_model else None,
        metrics=sorted({r.metric_type for r in results}) or None,
        model_name=title if results else None,
        eval_results=results or None,
    )
    if usage is None:
        source = repo_id or "path/to/this/folder"
        usage = f'import faceforge\n\nmodel = faceforge.from_pretrained("{source}")  # eval mode, on CPU'
    facts = "\n".join(f"| {_cell(k)} | {_cell(v)} |" for k, v in training.items())
    body = [f"# {title}", summary.strip(), "## How to use", f"```python\n{usage.strip()}\n```",
            "## Training", "| | |\n|---|---|\n" + facts]
    if results:
        rows = "\n".join(f"| {_cell(r.metric_name)} | {_cell(r.metric_value)} | {_cell(r.dataset_name)} | "
                         f"{_cell(r.dataset_split or '')} |" for r in results)
        body += ["## Results", "| metric | value | dataset | split |\n|---|---|---|---|\n" + rows]
    for heading, text in (sections or {}).items():
        body += [f"## {heading}", text.strip()]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(body) + "\n")


def write_model_card(folder: str | os.PathLike, *, title: str, summary: str, pipeline_tag: str,
                     datasets: Sequence[str], metrics: Sequence[Mapping[str, Any]],
                     training: Mapping[str, Any],
                     usage: str | None = None, repo_id: str | None = None, tags: Sequence[str] = (),
                     license: str = "apache-2.0", base_model: str | Sequence[str] | None = None,
                     sections: Mapping[str, str] | None = None) -> Path:
    """Write the card ``render_model_card`` makes to ``folder/README.md``, replacing any card there.

    Training calls this when a run ends, with the results it measured. Arguments: see ``render_model_card``.

    Returns:
        The path of the written ``README.md``.
    """
    card = render_model_card(title=title, summary=summary, pipeline_tag=pipeline_tag, datasets=datasets,
                             metrics=metrics, training=training, usage=usage, repo_id=repo_id, tags=tags,
                             license=license, base_model=base_model, sections=sections)
    path = Path(folder) / MODEL_CARD_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(card), encoding="utf-8")
    return path


# --- push --------------------------------------------------------------------------------------------
def check_model_folder(folder: str | os.PathLike) -> tuple[FaceForgeModel, list[str]]:
    """Check a folder is publishable: it loads strictly and has a faceforge model card.

    Returns:
        The loaded model and the files that would be uploaded (relative paths, sorted; hidden files skipped).

    Raises:
        PushError: not a folder; config or weights do not load (the reason is given); no ``README.md``, or its
            front matter lacks ``library_name: faceforge``, ``pipeline_tag`` or ``license``; pickled weights.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PushError(f"{folder} is not a folder")
    try:
        model = load_pretrained(folder)
    except ModelLoadError as err:
        raise PushError(f"{folder} cannot be published: {err}") from err
    card = folder / MODEL_CARD_NAME
    if not card.is_file():
        raise PushError(f"{folder} has no {MODEL_CARD_NAME} model card; write one with "
                        f"faceforge.hub.write_model_card (data, hardware, results, how to load)")
    try:
        meta = metadata_load(card) or {}
    except Exception as err:  # the YAML parser's errors vary; any of them means the card is unusable
        raise PushError(f"{card} has unreadable YAML front matter: {err}") from err
    problems = []
    if meta.get("library_name") != LIBRARY_NAME:
        problems.append(f"library_name: {LIBRARY_NAME}")
    problems += [key for key in ("pipeline_tag", "license") if not meta.get(key)]
    if problems:
        raise PushError(f"{card} front matter lacks {problems}; write the card with "
                        f"faceforge.hub.write_model_card")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise PushError(f"{folder} holds pickled files {pickles}; faceforge publishes {WEIGHTS_NAME} only. "
                        f"Remove them first.")
    return model, files


def _is_connection_error(err: BaseException) -> bool:
    """Network down, endpoint unreachable or offline mode, whichever HTTP client huggingface_hub uses."""
    if isinstance(err, ConnectionError | TimeoutError):  # includes huggingface_hub's OfflineModeIsEnabled
        return True
    transport = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests", "ConnectionError"), ("requests", "Timeout")):
        if module in sys.modules:
            transport.append(getattr(sys.modules[module], name))
    return isinstance(err, tuple(transport))


def push_model_folder(folder: str | os.PathLike, repo_id: str, *, private: bool = False,
                      token: str | None = None, commit_message: str | None = None,
                      endpoint: str | None = None) -> str:
    """Publish a model folder (weights, config, model card) to the Hub repo ``repo_id`` (created if needed).

    Args:
        folder: a folder written by ``save_pretrained`` with a card from ``write_model_card``.
        repo_id: ``ORG/NAME``.
        private: create the repo private (an existing repo keeps its visibility).
        token: a Hub write token; default: ``HF_TOKEN`` or the stored login.
        commit_message: default ``"Upload <Class> (<model_type>) with faceforge"``.
        endpoint: the Hub address; default ``HF_ENDPOINT`` or huggingface.co.

    Returns:
        The URL of the commit.

    Raises:
        PushError: the folder fails ``check_model_folder``; a bad repo id; the Hub cannot be reached or
            refuses the upload.
    """
    if repo_id.count("/") != 1:
        raise PushError(f"--repo-id must be ORG/NAME, got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise PushError(f"{repo_id!r} is not a valid Hub repo id: {err}") from err
    model, files = check_model_folder(folder)
    message = commit_message or f"Upload {type(model).__name__} ({model.config.model_type}) with faceforge"
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                 commit_message=message, allow_patterns=files)
    except HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in (401, 403):
            raise PushError(f"the Hub refused the credentials for {repo_id} (HTTP {status}): log in with "
                            f"`hf auth login`, set HF_TOKEN or pass --token with a write token") from err
        raise PushError(f"the Hub refused the upload to {repo_id}: {err}") from err
    except Exception as err:
        if _is_connection_error(err):
            raise PushError(f"cannot reach the Hugging Face Hub at {api.endpoint} "
                            f"({type(err).__name__}: {err}); nothing was uploaded. Check the network (and "
                            f"that HF_HUB_OFFLINE is not set), then run the push again.") from err
        raise
    return str(getattr(info, "commit_url", info))


__all__ = ["PushError", "check_model_folder", "push_model_folder", "render_model_card", "write_model_card"]
