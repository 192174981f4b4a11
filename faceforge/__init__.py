"""faceforge: facial-expression-aware face restoration, recognition and editing."""

__version__ = "0.1.0"


def from_pretrained(repo_id_or_path, **kwargs):
    """Load any faceforge network from a local folder or a Hub repo id (offline from the local cache).

    Reads ``config.json``, picks the class by its ``model_type`` and loads ``model.safetensors`` strictly.
    """
    from faceforge.modeling import load_pretrained

    return load_pretrained(repo_id_or_path, **kwargs)


def list_models() -> list[str]:
    """The model types faceforge can build."""
    from faceforge.registry import list_models as _list

    return _list()


__all__ = ["__version__", "from_pretrained", "list_models"]
