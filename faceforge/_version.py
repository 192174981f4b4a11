"""The faceforge version (its own module, so that every other module can read it without importing the package)."""

__version__ = "0.1.0"
