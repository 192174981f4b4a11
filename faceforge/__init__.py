"""faceforge: facial-expression-aware face restoration, recognition and editing."""

from faceforge._version import __version__


def from_pretrained(repo_id_or_path, **kwargs):
    """Load any faceforge network from a local folder, a shipped name or a Hub repo id (offline from the
    local cache).

    Reads ``config.json``, picks the class by its ``model_type`` and loads ``model.safetensors`` strictly.
    """
    from faceforge.loading import load_pretrained

    return load_pretrained(repo_id_or_path, **kwargs)


def list_models() -> list[str]:
    """The model types faceforge can build."""
    from faceforge.registry import list_models as _list

    return _list()


def list_tasks() -> list[str]:
    """The training tasks ``train/train.py --task NAME`` runs."""
    from faceforge.registry import list_tasks as _list

    return _list()


__all__ = ["__version__", "from_pretrained", "list_models", "list_tasks"]
