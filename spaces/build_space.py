"""Assemble the deployable faceforge Space from this repository: ``python spaces/build_space.py [--out DIR]``.

The Space's build installs ``requirements.txt`` before the rest of the Space repo is copied in (Hugging Face
mounts that one file into the image build), so a requirement cannot point at a wheel inside the Space, and a bare
``faceforge`` would be whatever an index serves under that name. So the Space carries faceforge itself:

``DIR/`` (default ``dist/space/``) holds

* ``app.py`` and ``README.md`` from ``spaces/faceforge/`` (the README's ``sdk_version`` set to the gradio this
  build ran with; its ``python_version`` checked against faceforge's ``Requires-Python``);
* ``faceforge/`` and ``faceforge-<version>.dist-info/``: the wheel built from this working tree
  (``pip wheel --no-deps --no-build-isolation``, offline), unpacked; the dist-info's ``RECORD`` lists the sha256
  of every file. ``python app.py`` imports it from the Space root, which is the first entry of ``sys.path``;
* ``hub_cards/<name>/`` for each model the app loads by role (``faceforge.demo.models.default_models()``):
  faceforge finds shipped models in ``hub_cards/`` beside its package, as in a source checkout, so the Space
  needs neither the Hub model repos nor network access to load them;
* ``requirements.txt``: the lines of ``spaces/faceforge/requirements.txt`` plus faceforge's runtime dependencies
  as its wheel declares them (``Requires-Dist``); it never names faceforge;
* ``.gitattributes`` (safetensors through Git LFS) and ``space_build.json`` (commit, uncommitted changes,
  versions, weight hashes).

The build refuses a working tree whose shipped files differ from the commit (``--allow-uncommitted`` builds it
anyway and lists the changes in ``space_build.json``). Deploy with
``hf upload OWNER/SPACE DIR . --repo-type space --delete "*"``.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "spaces" / "faceforge"
MARKER = "space_build.json"  # written into every built Space; an --out folder without it is never emptied
# What the wheel is built from: copied to a scratch folder, so the build leaves nothing in the working tree.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "setup.py", "setup.cfg", "MANIFEST.in", "LICENSE", "faceforge")
MODEL_FILES = ("config.json", "model.safetensors")
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
GITATTRIBUTES = "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git(*args: str) -> str | None:
    """A read-only git query in the repository (``--no-optional-locks``: never rewrites the index)."""
    try:
        done = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), *args], capture_output=True,
                              text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout


def provenance(paths: list[str]) -> tuple[str | None, list[str]]:
    """The checkout's commit (None outside git) and the uncommitted changes under ``paths`` (porcelain lines)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=all", "--", *paths)
    changes = [line for line in (status or "").splitlines() if line.strip()]
    return (commit.strip() if commit else None), changes


def app_models() -> dict[str, str]:
    """``{role: shipped name}`` of the models the app loads, from this working tree's faceforge."""
    sys.path.insert(0, str(REPO))
    import faceforge
    from faceforge.demo.models import default_models

    if not Path(faceforge.__file__).resolve().is_relative_to(REPO):
        raise SystemExit(f"imported faceforge from {faceforge.__file__}, not from {REPO}")
    return default_models()


def build_wheel(scratch: Path) -> Path:
    """faceforge's wheel, built offline from a copy of the working tree's package sources."""
    source = scratch / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]",
                                                                               "*.egg-info"))
        elif path.is_file():
            shutil.copy2(path, source / name)
    wheels = scratch / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--no-cache-dir", "-w", str(wheels), str(source)], check=True)
    built = sorted(wheels.glob("faceforge-*.whl"))
    if len(built) != 1:
        raise SystemExit(f"expected one faceforge wheel in {wheels}, found {[p.name for p in built]}")
    return built[0]


def unpack_wheel(wheel: Path, out: Path) -> dict[str, str]:
    """Unpack a pure-Python wheel into ``out`` (as an installer lays out purelib); its METADATA headers."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
        if len(dist_info) != 1:
            raise SystemExit(f"{wheel.name} has {len(dist_info)} .dist-info folders")
        (dist_info,) = dist_info
        wheel_meta = email.parser.Parser().parsestr(zf.read(f"{dist_info}/WHEEL").decode())
        if wheel_meta.get("Root-Is-Purelib", "").strip().lower() != "true":
            raise SystemExit(f"{wheel.name} is not a pure-Python wheel")
        for name in names:
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts or parts[0].endswith(".data"):
                raise SystemExit(f"{wheel.name} holds {name}, which an unpacked Space cannot place")
        zf.extractall(out)
        metadata = email.parser.Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
    return {"name": metadata["Name"], "version": metadata["Version"],
            "requires_python": metadata.get("Requires-Python", ""),
            "requires_dist": "\n".join(metadata.get_all("Requires-Dist") or [])}


def runtime_requirements(requires_dist: str) -> list[str]:
    """The wheel's ``Requires-Dist`` entries that are not behind an extra, as requirement lines."""
    lines = []
    for entry in filter(None, requires_dist.splitlines()):
        req = Requirement(entry)
        if req.marker is not None and "extra" in str(req.marker):
            continue
        lines.append(str(req))
    return lines


def names_faceforge(line: str) -> bool:
    """Whether a requirements line mentions faceforge outside a comment (by name, URL, path or archive)."""
    line = line.split(" #", 1)[0].strip()
    return not line.startswith("#") and "faceforge" in line.lower()


def template_lines() -> list[str]:
    """The Space-only requirement lines of ``spaces/faceforge/requirements.txt`` (comments dropped)."""
    lines = []
    for line in (TEMPLATE / "requirements.txt").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if names_faceforge(line):
            raise SystemExit(f"spaces/faceforge/requirements.txt names faceforge ({line.strip()!r}); the Space "
                             f"carries faceforge itself: remove the line")
        lines.append(line.rstrip())
    return lines


def front_matter_value(readme: str, key: str) -> str | None:
    head = readme.split("---", 2)[1] if readme.startswith("---") else ""
    match = re.search(rf"^{key}:\s*(.+?)\s*$", head, re.MULTILINE)
    return match.group(1).strip("\"'") if match else None


def space_readme(requires_python: str) -> str:
    """``spaces/faceforge/README.md`` with ``sdk_version`` set to this environment's gradio."""
    readme = (TEMPLATE / "README.md").read_text()
    python = front_matter_value(readme, "python_version")
    if python is None or python not in SpecifierSet(requires_python):
        raise SystemExit(f"spaces/faceforge/README.md sets python_version {python!r}, outside faceforge's "
                         f"Requires-Python {requires_python!r}")
    gradio = importlib.metadata.version("gradio")
    _, head, body = readme.split("---", 2)
    head = re.sub(r"^sdk_version:.*\n", "", head, flags=re.MULTILINE)
    head = re.sub(r"^(sdk:.*\n)", rf"\g<1>sdk_version: {gradio}\n", head, count=1, flags=re.MULTILINE)
    return f"---{head}---{body}"


def copy_models(models: dict[str, str], out: Path) -> dict[str, dict[str, str]]:
    """Copy ``hub_cards/<name>/`` of each app model into ``out/hub_cards/``; ``{name: {file: sha256}}``."""
    copied = {}
    for name in sorted(set(models.values())):
        source = REPO / "hub_cards" / name
        for file in MODEL_FILES:
            path = source / file
            if not path.is_file():
                raise SystemExit(f"{path} is missing: the app's {name} model cannot be shipped")
            with path.open("rb") as f:
                if f.read(len(LFS_POINTER)) == LFS_POINTER:
                    raise SystemExit(f"{path} is a Git LFS pointer, not the weights: run `git lfs pull` first")
        target = out / "hub_cards" / name
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        copied[name] = {p.name: sha256(p) for p in sorted(target.iterdir()) if p.is_file()}
    return copied


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that overlaps the repository's sources or holds anything but an earlier build."""
    if REPO.is_relative_to(out) or any(out.is_relative_to(REPO / name) for name in (*WHEEL_SOURCES, "spaces",
                                                                                      "hub_cards")):
        raise SystemExit(f"--out {out} would overwrite the repository's sources")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise SystemExit(f"{out} exists and is not an earlier Space build (no {MARKER}); choose another --out")


def build_space(out: Path, *, allow_uncommitted: bool = False) -> dict:
    """Write the deployable Space into ``out``; the content of its ``space_build.json``."""
    out = out.resolve()
    check_out(out)
    models = app_models()
    shipped = ["faceforge", "pyproject.toml", "README.md", "spaces/faceforge",
               *(f"hub_cards/{name}" for name in sorted(set(models.values())))]
    commit, changes = provenance(shipped)
    if commit is None and not allow_uncommitted:
        raise SystemExit(f"{REPO} is not a git checkout: the Space could not name its commit "
                         f"(--allow-uncommitted builds it anyway)")
    if changes and not allow_uncommitted:
        raise SystemExit("uncommitted changes in what the Space ships (commit them, or pass --allow-uncommitted):\n"
                         + "\n".join(changes))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="faceforge-space-") as scratch:
        wheel = build_wheel(Path(scratch))
        wheel_sha256 = sha256(wheel)
        meta = unpack_wheel(wheel, out)
    deps = runtime_requirements(meta["requires_dist"])
    if any(names_faceforge(d) for d in deps):
        raise SystemExit("faceforge's wheel requires faceforge")
    (out / "README.md").write_text(space_readme(meta["requires_python"]))
    shutil.copy2(TEMPLATE / "app.py", out / "app.py")
    source = f"git commit {commit}" if commit else "a folder outside git"
    if changes:
        source += f" with {len(changes)} uncommitted change(s) (listed in {MARKER})"
    header = [
        "# Written by spaces/build_space.py: edit spaces/faceforge/requirements.txt or pyproject.toml, not this.",
        f"# faceforge {meta['version']} is not installed from any index: it is the faceforge/ folder beside",
        f"# app.py, unpacked from {wheel.name} (sha256 {wheel_sha256})",
        f"# built from {source}.",
        "# Space-only requirements (spaces/faceforge/requirements.txt), then faceforge's runtime dependencies",
        "# as its wheel declares them (Requires-Dist):",
    ]
    (out / "requirements.txt").write_text("\n".join([*header, *template_lines(), *deps]) + "\n")
    weights = copy_models(models, out)
    (out / ".gitattributes").write_text(GITATTRIBUTES)
    record = {
        "faceforge_version": meta["version"],
        "requires_python": meta["requires_python"],
        "git_commit": commit,
        "uncommitted_changes": changes,
        "wheel": {"name": wheel.name, "sha256": wheel_sha256},
        "gradio_sdk_version": importlib.metadata.version("gradio"),
        "models": models,
        "weights": weights,
    }
    (out / MARKER).write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "space",
                        help="folder to write the Space into (default: dist/space in the repository); an earlier "
                             "build there is replaced")
    parser.add_argument("--allow-uncommitted", action="store_true",
                        help="build even if what the Space ships differs from the commit (recorded in "
                             f"{MARKER})")
    args = parser.parse_args(argv)
    record = build_space(args.out, allow_uncommitted=args.allow_uncommitted)
    out = args.out.resolve()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"Space for faceforge {record['faceforge_version']} ({record['git_commit'] or 'no commit'}"
          f"{', with uncommitted changes' if record['uncommitted_changes'] else ''}) in {out} "
          f"({size / 2**20:.1f} MiB; models: {', '.join(sorted(record['weights']))})")
    print(f'Deploy: hf upload OWNER/SPACE {out} . --repo-type space --delete "*"')


if __name__ == "__main__":
    main()
