"""GroupGAN's paper tables (Table 1, Table 2 and Fig. 5 of Niu et al., Knowledge-Based Systems 2022) on
FaceForge-Synth's neutral-to-peak sequences, with 95% intervals over the identity-disjoint folds.

    python benchmarks/groupgan_tables.py --train [--schedule cpu|paper]  # the trainings; resumable, and several
                                                                         # processes side by side share them
    python benchmarks/groupgan_tables.py [--update]                      # measure and report

**Protocol** (Sec. 4.1-4.3): every synthetic sequence is one identity's neutral-to-peak clip; identities are dealt
into 5 folds; a fold's test faces are the weak frames (6-8) of its sequences, and the other four folds train. Per
BaseNet and fold, five trainings: the BaseNet on the peak frames (C and E of the games), Table 1's **CNN** (that
BaseNet fine-tuned on the weak frames: every column starts from the same peak-trained network, as the paper's start
from the same pre-trained BaseNet; a BaseNet trained on the weak frames from scratch stays at chance in the cpu
schedule, 12.5% on fold 1 against 21% for the majority class), **DCGAN** (G against D), **GroupGAN 1V2** (G against
D and D') and **GroupGAN 2V2** (G and E against D and D'), the last three starting from that fold's peak BaseNet.

**Schedules.** ``paper``: ``train/configs/groupgan_basenet.yaml`` and ``groupgan.yaml`` (128 crops, full widths,
105,000 iterations), every BaseNet on all five folds: a GPU's work. ``cpu`` (what the README's figures come from):
the CPU configs (``*_cpu.yaml``: 64 crops, VGG/AlexNet/ResNet at a quarter of their channels, Adam) cut further so
that the whole protocol fits a few hours of a 2-core CPU: 2,000 BaseNet iterations, and 500 GAN iterations (100 of
encoder-decoder pre-training, 400 of the games) with G and the discriminators at half the shipped model's widths.
VGG13 (the paper's best BaseNet, chosen before any run) gets all five folds; the other BaseNets folds 1 and 2.

**Figures.** Table 1: each cell the mean over folds of the accuracy on the test fold's weak frames, with a 95%
Student-t interval over the folds (with two folds the interval is wide; it says how little two folds tell).
Beside it: always answering the most frequent expression (majority), and the peak BaseNet on the weak frames as
they are (no magnification). Table 2: the confusion matrix of VGG13's GroupGAN 2V2, pooled over its folds. Beyond
the paper, on VGG13's 2V2: the shipped expression evaluator (trained apart from every supervisor here) on the
magnified faces against on the weak inputs, and identity kept (dlib face-recognition distance under 0.6) between
each weak input and its magnification. Fig. 5: weak inputs, magnified faces, Eq. (22)'s heat maps and the real
peaks, written to ``hub_cards/groupgan/magnification.png`` with ``--update``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<!-- groupgan-tables -->", "<!-- /groupgan-tables -->")
ARCHS = ("vgg13", "alexnet", "vgg11", "vgg16", "resnet18")
BEST = "vgg13"
COLUMNS = ("cnn", "dcgan", "1v2", "2v2")
LABELS = {"cnn": "CNN", "dcgan": "DCGAN", "1v2": "GroupGAN (1V2)", "2v2": "GroupGAN (2V2)"}
N_FOLDS = 5

# The cpu schedule's cuts of the *_cpu.yaml configs (see the module docstring).
CPU_BASENET = ["steps=2000"]
CPU_GAN = ["steps=500", "options.pretrain_steps=100", "options.lr_drop=0", "options.net.channels=[8,16,32,64]",
           "options.d_channels=[8,16,32,64,64]", "options.d_hidden=128"]
QUIET = ["checkpoint_every=0", "sample_every=0", "log_every=100"]


@dataclass(frozen=True)
class Run:
    """One training of the protocol: ``name`` (``ARCH/foldK/COLUMN``), its task and its train.py arguments."""

    name: str
    task: str
    config: str
    overrides: tuple[str, ...]

    def folder(self, runs: Path) -> Path:
        return runs / "groupgan-tables" / self.name

    def done(self, runs: Path) -> bool:
        return (self.folder(runs) / "train_summary.json").is_file()

    def argv(self, runs: Path) -> list[str]:
        return ["--task", self.task, "--config", self.config, f"output_dir={self.folder(runs)}", *self.overrides,
                "--resume"]


def folds_of(arch: str, schedule: str) -> tuple[int, ...]:
    """The folds an arch is trained on: all five for the paper's schedule and for VGG13, else 1 and 2."""
    return tuple(range(1, N_FOLDS + 1)) if schedule == "paper" or arch == BEST else (1, 2)


def plan(runs: Path, schedule: str = "cpu", archs: tuple[str, ...] = ARCHS) -> list[tuple[str, int, list[Run]]]:
    """The protocol's trainings in the order they run: (arch, fold, [peak BaseNet, CNN, DCGAN, 1V2, 2V2]) units, the
    best BaseNet's folds first. A unit's GANs read its peak BaseNet, so a unit runs in one process."""
    cpu = schedule == "cpu"
    suffix = "_cpu" if cpu else ""
    base_cfg = f"train/configs/groupgan_basenet{suffix}.yaml"
    gan_cfg = f"train/configs/groupgan{suffix}.yaml"
    units = []
    for arch in archs:
        for fold in folds_of(arch, schedule):
            prefix = f"{arch}/fold{fold}"
            common = [f"fold={fold}", *QUIET]
            base = [*(CPU_BASENET if cpu else []), *common, f"options.net.arch={arch}"]
            peak = Run(f"{prefix}/peak", "groupgan_basenet", base_cfg, (*base, "options.train_on=peak"))
            # the CNN starts from the fold's peak BaseNet, as the games do (from scratch it stays at chance on the weak
            # frames at the cpu schedule)
            cnn = Run(f"{prefix}/cnn", "groupgan_basenet", base_cfg,
                      (*base, "options.train_on=weak", f"options.init={peak.folder(runs) / 'model'}"))
            classifier = f"options.classifier={peak.folder(runs) / 'model'}"
            gans = [Run(f"{prefix}/{variant}", "groupgan", gan_cfg,
                        (*(CPU_GAN if cpu else []), *common, classifier, f"options.variant={variant}",
                         f"options.net.cond_dim={256 if variant == '2v2' else 0}"))
                    for variant in ("dcgan", "1v2", "2v2")]
            units.append((arch, fold, [peak, cnn, *gans]))
    return units


def claim(path: Path) -> bool:
    """Take ``path`` for this process (a file holding its pid) unless a live process holds it."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(path.read_text() or 0), 0)
            return False  # its holder is alive
        except (ProcessLookupError, ValueError):
            path.unlink(missing_ok=True)  # left by a process that died
            return claim(path)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def train_all(runs: Path, schedule: str) -> None:
    """Every training of the plan not yet done. Each unit is claimed by one process (``ARCH/foldK.claim``), so that
    several processes started side by side share the work."""
    sys.path.insert(0, str(ROOT / "train"))
    from train import main as train_main  # train/train.py

    for arch, fold, unit in plan(runs, schedule):
        if all(run.done(runs) for run in unit):
            continue
        lock = runs / "groupgan-tables" / arch / f"fold{fold}.claim"
        if not claim(lock):
            continue
        try:
            for run in unit:
                if run.done(runs):
                    continue
                print(f"== {run.name}", flush=True)
                code = train_main(run.argv(runs))
                if code:
                    raise SystemExit(f"{run.name}: train.py exited with {code}")
        finally:
            lock.unlink(missing_ok=True)


# --- measuring ------------------------------------------------------------------------------------------------------
def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval of the mean over folds; (v, v, v) for one value."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def test_faces(fold: int, size: int, load_size: int, sequences: int, frames: int) -> dict[str, np.ndarray]:
    """The test fold's centre-cropped weak faces and their peak frames (uint8 (N, 3, S, S)) as the models see them,
    the weak faces whole (``weak_full``, (N, 3, L, L), the template's framing) and the expressions."""
    from faceforge.data.cache import cached_synth_sequence_frames
    from faceforge.training.tasks.groupgan import MagnificationPairs, SynthSequencePairs

    seqs = cached_synth_sequence_frames("train", size=load_size, length=sequences, frames=frames, version=2)
    pairs = MagnificationPairs(SynthSequencePairs(seqs, fold=fold, side="test"), size=size, load_size=load_size,
                               train=False)
    whole = MagnificationPairs(pairs.pairs, size=load_size, load_size=load_size, train=False)
    items = [pairs[i] for i in range(len(pairs))]
    as_uint8 = lambda samples, key: np.stack([(s[key].numpy() * 255 + 0.5).astype(np.uint8)  # noqa: E731
                                              for s in samples])
    return {"weak": as_uint8(items, "weak"), "peak": as_uint8(items, "peak"),
            "weak_full": as_uint8([whole[i] for i in range(len(whole))], "weak"),
            "expression": np.array([s["expression"] for s in items])}


def in_frame(full: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Whole faces (N, 3, L, L) with their centre replaced by ``centre`` (N, 3, S, S): a magnification put back
    into the template's framing (as :func:`faceforge.magnification.magnify_crops` pastes G's change)."""
    out = full.copy()
    top = (full.shape[-1] - centre.shape[-1]) // 2
    out[..., top:top + centre.shape[-2], top:top + centre.shape[-1]] = centre
    return out


@torch.no_grad()
def predict(model, faces: np.ndarray, *, batch: int = 60) -> tuple[np.ndarray, np.ndarray | None]:
    """(argmax predictions, magnified faces uint8 or None) of a BaseNet or GroupGAN on uint8 faces."""
    from faceforge.models.groupgan import GroupGAN

    model.eval()
    preds, magnified = [], []
    for start in range(0, len(faces), batch):
        x = torch.from_numpy(faces[start:start + batch]).float() / 255
        if isinstance(model, GroupGAN):
            out = model.magnify(x)
            magnified.append((out.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy())
            preds.append(model.classifier(out).argmax(1).numpy())
        else:
            preds.append(model(x).argmax(1).numpy())
    return np.concatenate(preds), (np.concatenate(magnified) if magnified else None)


def run_options(folder: Path) -> dict:
    import yaml

    return yaml.safe_load((folder / "config.yaml").read_text())


def measure(args) -> dict:
    """Per fold and column: accuracy on the weak test frames; for the best BaseNet's 2V2 the per-face predictions,
    the evaluator's readings and identity distances."""
    import faceforge

    saved: dict = {"schedule": args.schedule, "cells": {}, "best": BEST}
    confusion_parts, evaluator_rows, identity_rows, examples = [], [], [], None
    evaluator = faceforge.from_pretrained("expression-evaluator").eval()
    for arch, fold, unit in plan(args.runs, args.schedule):
        if not all(run.done(args.runs) for run in unit):
            continue
        opts = run_options(unit[-1].folder(args.runs))["options"]
        data = opts["data"]
        faces = test_faces(fold, opts["net"]["image_size"], data["load_size"], data["sequences"], data["frames"])
        truth = faces["expression"]
        cell = {"n": len(truth), "majority": float(np.bincount(truth).max() / len(truth))}
        peak = faceforge.from_pretrained(unit[0].folder(args.runs) / "model")
        cell["peak_on_weak"] = float((predict(peak, faces["weak"])[0] == truth).mean())
        cell["peak_on_peak"] = float((predict(peak, faces["peak"])[0] == truth).mean())
        for run in unit[1:]:
            column = run.name.rsplit("/", 1)[1]
            pred, magnified = predict(faceforge.from_pretrained(run.folder(args.runs) / "model"), faces["weak"])
            cell[column] = float((pred == truth).mean())
            if arch == BEST and column == "2v2":
                confusion_parts.append((pred, truth))
                whole = in_frame(faces["weak_full"], magnified)
                evaluator_rows.append(evaluator_reading(evaluator, faces["weak_full"], whole, truth))
                identity_rows.append(identity_kept(faces["weak_full"], whole))
                if examples is None:
                    examples = (faces, magnified)
        saved["cells"][f"{arch}/fold{fold}"] = cell
        print(f"{arch} fold {fold}: " + ", ".join(f"{k} {v:.3f}" for k, v in cell.items() if k != "n"), flush=True)
    if confusion_parts:
        from faceforge.face.expressions import EXPRESSIONS

        pred = np.concatenate([p for p, _ in confusion_parts])
        truth = np.concatenate([t for _, t in confusion_parts])
        present = sorted(set(truth.tolist()))
        matrix = [[float(((truth == t) & (pred == p)).sum() / max((truth == t).sum(), 1)) for p in present]
                  for t in present]
        saved["confusion"] = {"classes": [EXPRESSIONS[i] for i in present], "matrix": matrix, "n": len(truth)}
        saved["evaluator"] = {k: [float(v) for row in evaluator_rows for v in row[k]] for k in ("weak", "magnified")}
        saved["identity"] = [float(v) for row in identity_rows for v in row]
    if examples is not None and args.update:
        figure(*examples, ROOT / "hub_cards" / "groupgan" / "magnification.png")
    return saved


def evaluator_reading(evaluator, weak: np.ndarray, magnified: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per face, whether the expression evaluator reads the true expression on the whole weak face and on it with
    the magnification in place (both resized to the evaluator's side)."""
    import torch.nn.functional as F

    side = evaluator.config.image_size
    out = {}
    for key, faces in (("weak", weak), ("magnified", magnified)):
        x = F.interpolate(torch.from_numpy(faces).float() / 255, size=(side, side), mode="bilinear",
                          antialias=True, align_corners=False)
        with torch.no_grad():
            out[key] = (evaluator(x).argmax(1).numpy() == truth).astype(np.float64)
    return out


def identity_kept(weak: np.ndarray, magnified: np.ndarray) -> np.ndarray:
    """Per face, the dlib face-recognition distance between the whole weak face and it with the magnification in
    place (template framing)."""
    from faceforge.face.identity import face_descriptors, identity_distance

    nhwc = lambda faces: np.ascontiguousarray(faces.transpose(0, 2, 3, 1))  # noqa: E731
    return identity_distance(face_descriptors(nhwc(weak)), face_descriptors(nhwc(magnified)))


def figure(faces: dict, magnified: np.ndarray, path: Path, count: int = 6) -> None:
    """Fig. 5: per row the weak input, the magnified face and its Eq. (22) heat map, the real peak and its heat
    map (both against the weak input)."""
    from PIL import Image

    from faceforge.magnification import change_heat_map

    order = np.argsort(faces["expression"], kind="stable")
    picks = [order[int(i)] for i in np.linspace(0, len(order) - 1, count)]
    rows = []
    for i in picks:
        weak, fake, peak = (np.transpose(a[i], (1, 2, 0)) for a in (faces["weak"], magnified, faces["peak"]))
        rows.append(np.concatenate([weak, fake, change_heat_map(weak, fake), peak, change_heat_map(weak, peak)], 1))
    grid = np.concatenate(rows, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


# --- reporting ------------------------------------------------------------------------------------------------------
def rows(saved: dict) -> dict[str, dict[str, tuple[float, float, float, int]]]:
    """Per arch and column (and the trivial rows): (mean, low, high, folds) over the measured folds."""
    table: dict[str, dict] = {}
    for key, cell in saved["cells"].items():
        arch = key.split("/")[0]
        for column, value in cell.items():
            if column != "n":
                table.setdefault(arch, {}).setdefault(column, []).append(value)
    return {arch: {c: (*t_interval(v), len(v)) for c, v in cols.items()} for arch, cols in table.items()}


def fmt(cell: tuple[float, float, float, int]) -> str:
    mean, low, high, _ = cell
    return f"{100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def report(saved: dict, update: bool) -> str:
    table = rows(saved)
    lines = ["| BaseNet (folds) | majority | peak BaseNet, weak as they are | CNN | DCGAN | GroupGAN (1V2) | "
             "GroupGAN (2V2) | peak BaseNet on the peak frames |", "|---|---|---|---|---|---|---|---|"]
    for arch in ARCHS:
        if arch not in table:
            continue
        r = table[arch]
        lines.append(f"| {arch} ({r['cnn'][3]}) | " + " | ".join(
            fmt(r[c]) for c in ("majority", "peak_on_weak", *COLUMNS, "peak_on_peak")) + " |")
    text = ["Accuracy (%) on the test folds' weak frames (6-8), mean over folds [95% t interval over folds]; "
            f"schedule `{saved['schedule']}`; the last column is the peak BaseNet on the peak frames, what the games "
            "magnify towards.", "", *lines]
    if "confusion" in saved:
        conf = saved["confusion"]
        text += ["", f"Confusion matrix (%) of {BEST} GroupGAN (2V2), {conf['n']} weak faces pooled over its folds "
                 "(rows: truth, columns: prediction):", "",
                 "| | " + " | ".join(conf["classes"]) + " |", "|---" * (len(conf["classes"]) + 1) + "|"]
        text += [f"| {name} | " + " | ".join(f"{100 * v:.1f}" for v in row) + " |"
                 for name, row in zip(conf["classes"], conf["matrix"], strict=True)]
        ev, ids = saved["evaluator"], np.asarray(saved["identity"])
        weak, mag = np.asarray(ev["weak"]), np.asarray(ev["magnified"])
        text += ["", f"Beyond the paper ({BEST} 2V2, {len(weak)} weak faces): the expression evaluator reads the "
                 f"true expression on {100 * weak.mean():.1f}% of the weak inputs and {100 * mag.mean():.1f}% of "
                 f"their magnifications ({100 * (mag - weak).mean():+.1f} points, 95% bootstrap "
                 f"{paired_interval(mag - weak)}); identity kept (dlib distance < 0.6) for "
                 f"{100 * (ids < 0.6).mean():.1f}% (median distance {np.median(ids):.3f})."]
    text += ["", *goals(saved)]
    out = "\n".join(text)
    print(out)
    if update:
        for path in (ROOT / "README.md", ROOT / "hub_cards" / "groupgan" / "README.md"):
            replace_between(path, out)
    return out


def paired_interval(diff: np.ndarray, resamples: int = 2000, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return f"[{100 * low:+.1f}, {100 * high:+.1f}]"


def goals(saved: dict) -> list[str]:
    """The issue's goals, each met or missed by how much."""
    table = rows(saved)
    if BEST not in table:
        return ["Goals: not measured (no complete VGG13 fold)."]
    r = {c: table[BEST][c][0] for c in COLUMNS}
    out = [f"Goals ({BEST}, {table[BEST]['cnn'][3]} folds):",
           f"- 2V2 at least 4.5 points above CNN: {100 * (r['2v2'] - r['cnn']):+.1f} points, "
           f"{'met' if r['2v2'] - r['cnn'] >= 0.045 else 'missed'}.",
           "- 2V2 >= 1V2 >= DCGAN >= CNN: " + ("met" if r["2v2"] >= r["1v2"] >= r["dcgan"] >= r["cnn"] else
                                               "missed") + " (" + ", ".join(f"{LABELS[c]} {100 * r[c]:.1f}"
                                                                         for c in COLUMNS) + ")."]
    if "evaluator" in saved:
        gain = np.mean(saved["evaluator"]["magnified"]) - np.mean(saved["evaluator"]["weak"])
        kept = float(np.mean(np.asarray(saved["identity"]) < 0.6))
        out += [f"- the evaluator reads the magnified faces at least 15 points more often than the weak inputs: "
                f"{100 * gain:+.1f} points, {'met' if gain >= 0.15 else 'missed'}.",
                f"- identity kept in >= 95%: {100 * kept:.1f}%, {'met' if kept >= 0.95 else 'missed'}."]
    return out


def replace_between(path: Path, text: str) -> None:
    content = path.read_text()
    start, end = MARKERS
    if start not in content:
        raise SystemExit(f"{path} has no {start} marker")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where the trainings go (RUNS/groupgan-tables)")
    parser.add_argument("--schedule", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--train", action="store_true", help="run the protocol's trainings not yet done, then stop")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "groupgan_tables.json")
    parser.add_argument("--update", action="store_true", help="write the tables into the README and the card")
    parser.add_argument("--from-json", action="store_true", help="report the tables kept in --json")
    args = parser.parse_args()
    if args.train:
        train_all(args.runs, args.schedule)
        return
    if args.from_json:
        saved = json.loads(args.json.read_text())
    else:
        saved = measure(args)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(saved, indent=1))
    report(saved, args.update)


if __name__ == "__main__":
    main()
