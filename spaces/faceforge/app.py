"""Hugging Face Space entry point: the faceforge app, nothing more.

Deploy the folder that ``python spaces/build_space.py`` writes (default ``dist/space/``), not this one: it holds
faceforge's code (``faceforge/``, unpacked from the wheel built from the repository) and the app's weights
(``hub_cards/<name>/``, found beside the package as in a source checkout).
"""

try:
    from faceforge.demo import build_app, launch_app
except ModuleNotFoundError as err:
    if err.name != "faceforge":
        raise
    raise SystemExit("faceforge is not importable here: deploy the folder `python spaces/build_space.py` writes, "
                     "not spaces/faceforge/") from err

demo = build_app()

if __name__ == "__main__":
    launch_app(demo)  # faceforge's upload cap, local fonts, no outside connection; Spaces set host and port
