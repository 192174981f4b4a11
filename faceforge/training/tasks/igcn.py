"""Training task of IGCN (``faceforge.models.igcn``; Liu, Li, Wu and Zhang, "Facial Expression Restoration Based on
Improved Graph Convolutional Networks", MMM 2020, Sec. 3.1 and 4.1).

Data (Sec. 4.1): aligned 128x128 faces; "the input ill face images are produced by resizing high resolution face
image to 16*16 via bicubic interpolation method and added a random binary mask, of which size is one fourth of the
input size". Here: MPENet's pipeline (:class:`~faceforge.training.tasks.mpenet.SuperResolutionFaces`: MATLAB bicubic,
rounded to 8 bits, random horizontal flips for training), then a random square painted black on the 16x16 input
(:func:`~faceforge.data.degrade.random_square_mask`, :func:`~faceforge.data.degrade.apply_occlusion`). The square's
side is ``mask_fraction`` of the input side: 0.5 (8x8 of 16x16) covers a quarter of the input's *area*, the reading of
"one fourth of the input size" taken here; 0.25 (4x4, the default of ``faceforge.data.degrade``) is the other one.
Training masks are drawn anew for every sample; evaluation masks are fixed per face (a generator seeded with its
index), so every model is scored on the same occlusions.

Losses, Eq. (5):

    L_G = L_pix + lambda_1 L_adv + lambda_2 L_cls + lambda_3 L_per,   lambda_1 = lambda_2 = 0.001, lambda_3 = 0.5

* Eq. (1) L_pix: the squared error of the restored face, averaged over its pixels;
* Eq. (2) L_per: the squared distance of two feature maps of a frozen network, each averaged over its elements. The
  paper takes VGG-19's f_2,2 and f_5,4 (the second conv before the second max-pooling, the fourth before the fifth):
  with ``vgg19_weights`` (a local file of timm's ``vgg19``) exactly those; otherwise, since no ImageNet weights can be
  downloaded, the same two places of faceforge's trained expression classifier (a VGG13: stage 2's second conv and
  stage 5's last), as MPEGAN does;
* Eq. (3) L_adv: the GAN loss against SRGAN's discriminator, non-saturating for the generator
  (-log D(I_out)), and -log D(I_gt) - log(1 - D(I_out)) for the discriminator. The paper's Eq. (3) writes
  log D(I_out) + log(1 - D(I_gt)), i.e. a D that scores *fakeness*; flipping the sign of D's logit makes the two
  the same game;
* Eq. (4) L_cls: the squared distance between the pre-activation logits (the last FC layer) of a pre-trained AU
  classifier on I_gt and on I_out, averaged over the AUs: faceforge's shipped ``au-detector`` (trained first with
  the multi-label cross-entropy, as the paper's classifier), frozen.

Every term is a per-element mean, the convention of SRGAN, whose 1e-3 adversarial weight lambda_1 is. The paper
learns "one time of discriminator every three times of generator" (``d_every: 3``) with Adam at 1e-4, batch 8.

Variants (Tables 1-3; ``options.variant``): ``srgan`` ("SRGAN": IGCN 1x1 only, the residual-block generator, no
L_cls), ``no_au`` ("Ours-": RRMBs without L_cls) and ``full`` ("Ours").

Evaluation: PSNR / SSIM on Y of the whole face and of the occluded square alone (its region at 128x128), for the
output and for the bicubic upsampling of the ill input, and the AU F1 / accuracy / AUC / AP of the restored faces,
of the bicubic ones and of the ground truth (Tables 1-2's "Ground-Truth") by a separately trained AU evaluator
(``au_evaluator``, never the supervisor). The whole-face and AU figures are
:class:`faceforge.evaluation.SuperResolutionScores`'s, as MPENet's; :class:`OcclusionScores` adds the region.
Run with ``train/configs/igcn.yaml`` (the paper's settings) or ``train/configs/igcn_cpu.yaml``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from faceforge.data.degrade import apply_occlusion, imresize, random_square_mask, to_low_resolution
from faceforge.face.aus import FACEFORGE_AUS, au_label
from faceforge.modeling import FaceForgeModel
from faceforge.models.igcn import IGCNConfig, IGCNDiscriminator, IGCNDiscriminatorConfig, IGCNGenerator
from faceforge.training.config import ConfigError
from faceforge.training.task import Step, Task
from faceforge.training.tasks.faces import dataset_card_name, face_split, warmup_cosine
from faceforge.training.tasks.mpenet import SuperResolutionFaces

Variant = Literal["srgan", "no_au", "full"]
# variant -> (the generator's grids, None = the config's; whether L_cls is used)
VARIANTS: dict[str, tuple[tuple[int, ...] | None, bool]] = {
    "srgan": ((1,), False),  # "SRGAN": residual blocks (IGCN 1x1 alone), no AU classifier loss
    "no_au": (None, False),  # "Ours-": RRMBs, no AU classifier loss
    "full": (None, True),  # "Ours": RRMBs and the AU classifier loss
}
PAPER_ROWS: dict[str, str] = {"srgan": "SRGAN", "no_au": "Ours-", "full": "Ours"}
EVAL_MASK_SEED = 20200101  # evaluation masks: face i's from a generator seeded with EVAL_MASK_SEED + i


# --- data ------------------------------------------------------------------------------------------------------------
class OccludedFaces(Dataset):
    """Super-resolution samples with IGCN's random square painted on the LR input.

    Args:
        faces: :class:`SuperResolutionFaces` (``image`` the HR face, ``lr`` its 8-bit bicubic downsampling).
        fraction: side of the square over the input side (0.5: a quarter of its area).
        fill: value of the occluded pixels (0: black).
        seed: None draws every mask from torch's global RNG (training: the loop seeds it per sample); an int gives
            sample ``i`` the mask of a generator seeded with ``seed + i``, the same every time (evaluation).

    Samples: those of ``faces`` with ``lr`` occluded, and ``mask`` (1, s, s), 1 on the occluded input pixels.
    """

    def __init__(self, faces: SuperResolutionFaces, *, fraction: float, fill: float = 0.0, seed: int | None = None):
        self.faces, self.fraction, self.fill, self.seed = faces, fraction, fill, seed
        self.aus = faces.aus

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = dict(self.faces[index])
        lr = sample["lr"]
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed + int(index))
        # "added a random binary mask, of which size is one fourth of the input size"
        mask = random_square_mask(1, lr.shape[-2:], fraction=self.fraction, generator=generator, dtype=lr.dtype)
        sample["lr"] = apply_occlusion(lr[None], mask, fill=self.fill)[0]
        sample["mask"] = mask[0]
        return sample


def occluded_split(task: Task, split: str, length: int | None, *, train: bool) -> OccludedFaces:
    """A split of the run's faces as occluded super-resolution samples (``task.opts``: ``net``, ``crop_margin``,
    ``mask_fraction``, ``mask_fill``); evaluation splits get fixed masks."""
    o = task.opts
    margin = {"margin": o.crop_margin} if o.crop_margin else {}
    faces = face_split(task, split, length=length, size=o.net.image_size, **margin)
    samples = SuperResolutionFaces(faces, size=o.net.image_size, scale=o.net.scale, train=train)
    return OccludedFaces(samples, fraction=o.mask_fraction, fill=o.mask_fill, seed=None if train else EVAL_MASK_SEED)


# --- scoring ---------------------------------------------------------------------------------------------------------
def _cell(value: float) -> str:
    """A card's table cell: 3 decimals, "-" where the value is undefined (an AU absent from every test face)."""
    return "-" if np.isnan(value) else f"{value:.3f}"


def _mean(values: list[float]) -> float:
    """The mean of the defined values (NaN marks a face without that region), NaN if there are none."""
    array = np.asarray(values, dtype=np.float64)
    return float(array[~np.isnan(array)].mean()) if (~np.isnan(array)).any() else float("nan")


_OUTPUT = {"step 1": "output"}  # SuperResolutionScores' row of a one-step model -> OcclusionScores' name
_INPUT = {v: k for k, v in _OUTPUT.items()}


class OcclusionScores:
    """Scores of restored occluded faces: :class:`faceforge.evaluation.SuperResolutionScores` (PSNR / SSIM on Y of
    the whole face for the bicubic upsampling of the ill input and the output, and with an ``evaluator`` the AU
    columns of both and of the ground truth), plus PSNR / SSIM on Y of the occluded square alone.

    The region is the square the input mask covers, scaled to the HR face (8x8 input pixels: 64x64). SSIM needs
    the 11x11 window to fit: a region narrower than 11 pixels gets no SSIM.

    Args:
        image_size: HR side.
        evaluator: a separately trained AU network (``config.aus``, ``decision_thresholds()``), or None.
    """

    ROWS = ("bicubic", "output")

    def __init__(self, *, image_size: int, evaluator: FaceForgeModel | None = None,
                 extra_evaluators: dict[str, FaceForgeModel] | None = None):
        from faceforge.evaluation import SuperResolutionScores

        self.whole = SuperResolutionScores(steps=1, image_size=image_size, evaluator=evaluator, au_rows="all",
                                           extra_evaluators=extra_evaluators)
        self.region: dict[str, dict[str, list[float]]] = {r: {"PSNR": [], "SSIM": []} for r in self.ROWS}

    @torch.no_grad()
    def add(self, hr: torch.Tensor, lr: torch.Tensor, out: dict, mask: torch.Tensor, *,
            au_occurrence: torch.Tensor | None = None, au_mask: torch.Tensor | None = None) -> None:
        """One batch: ``hr`` (B, 3, H, W) and the ill ``lr`` (B, 3, h, w) in [0, 1], the model's ``out``, the input
        ``mask`` (B, 1, h, w) and the AU labels."""
        from faceforge.metrics.image import psnr_y, ssim_y

        self.whole.add(hr, lr, {"steps": (out["sr"],)}, au_occurrence=au_occurrence, au_mask=au_mask)
        scale = hr.shape[-1] // mask.shape[-1]
        images = {"bicubic": imresize(lr, size=hr.shape[-2:], clamp=True), "output": out["sr"].float().clamp(0, 1)}
        for i in range(hr.shape[0]):
            rows, cols = torch.nonzero(mask[i, 0] > 0.5, as_tuple=True)
            if not len(rows):
                for name in images:
                    self.region[name]["PSNR"].append(float("nan"))
                    self.region[name]["SSIM"].append(float("nan"))
                continue
            top, bottom = int(rows.min()) * scale, (int(rows.max()) + 1) * scale
            left, right = int(cols.min()) * scale, (int(cols.max()) + 1) * scale
            truth = hr[i:i + 1, :, top:bottom, left:right]
            for name, image in images.items():
                crop = image[i:i + 1, :, top:bottom, left:right]
                self.region[name]["PSNR"].append(float(psnr_y(crop, truth)[0]))
                fits = min(bottom - top, right - left) >= 11
                self.region[name]["SSIM"].append(float(ssim_y(crop, truth)[0]) if fits else float("nan"))

    @property
    def samples(self) -> int:
        return self.whole.samples

    # --- storage and intervals (benchmarks/igcn_tables.py) -----------------------------------------------------
    def save(self, path, **metadata: str) -> None:
        """Every per-face value in one safetensors file (:meth:`SuperResolutionScores.save` plus the region's)."""
        extra = {f"region/{row}/{column}": torch.tensor(values, dtype=torch.float64)
                 for row, columns in self.region.items() for column, values in columns.items()}
        self.whole.save(path, extra=extra, **metadata)

    @classmethod
    def load(cls, path, *, evaluator: FaceForgeModel | None = None,
             extra_evaluators: dict[str, FaceForgeModel] | None = None) -> OcclusionScores:
        """The scores :meth:`save` wrote, with the evaluators that measured them."""
        from safetensors import safe_open

        from faceforge.evaluation import SuperResolutionScores

        whole = SuperResolutionScores.load(path, evaluator=evaluator, extra_evaluators=extra_evaluators)
        scores = cls(image_size=whole.image_size)
        scores.whole = whole
        with safe_open(str(path), framework="pt") as file:
            for key in file.keys():
                if key.startswith("region/"):
                    _, row, column = key.split("/")
                    scores.region[row][column] = file.get_tensor(key).tolist()
        return scores

    def fit_thresholds(self, data_aus: tuple[int, ...]) -> dict[str, tuple[float, ...]]:
        """Per row (``bicubic``, ``output``, ``HR``), the per-AU F1-maximising thresholds on these faces (a
        validation split's, for :meth:`statistics` of the test split)."""
        return {_OUTPUT.get(row, row): t for row, t in self.whole.fit_thresholds(data_aus).items()}

    def statistics(self, data_aus: tuple[int, ...], *, val_thresholds: dict[str, tuple[float, ...]] | None = None,
                   subset: tuple[int, ...] | None = None) -> dict[str, dict]:
        """Every cell of :meth:`table` as a function of the faces it is measured on (``{row: {column: fn}}``), for
        a :class:`faceforge.metrics.BootstrapTable`; the region columns leave out faces without an occlusion;
        ``subset``: the AU columns over these AUs only (BP4D's 12, DISFA's 8)."""
        thresholds = {_INPUT.get(row, row): t for row, t in (val_thresholds or {}).items()} or None
        cells = {_OUTPUT.get(row, row): columns for row, columns in
                 self.whole.statistics(data_aus, val_thresholds=thresholds, subset=subset).items()}
        for row in self.ROWS:
            for column, values in self.region[row].items():
                array = np.asarray(values, dtype=np.float64)
                cells[row][f"{column} (occluded)"] = lambda i, a=array: float(np.nanmean(a[i]))
        return cells

    def table(self, data_aus: tuple[int, ...]) -> tuple[dict[str, dict[str, float]], dict]:
        """``({row: {"PSNR", "SSIM", "PSNR (occluded)", "SSIM (occluded)", "AU F1" %, "AU Acc" %, "AU AUC",
        "AU AP"}}, details)``, rows ``bicubic``, ``output`` and (with an evaluator) ``HR``: IGCN Tables 1-3."""
        table, details = self.whole.table(data_aus)
        renamed = {"step 1": "output"}
        table = {renamed.get(row, row): columns for row, columns in table.items()}
        for row in self.ROWS:
            table[row] = {"PSNR": table[row].pop("PSNR"), "SSIM": table[row].pop("SSIM"),
                          "PSNR (occluded)": _mean(self.region[row]["PSNR"]),
                          "SSIM (occluded)": _mean(self.region[row]["SSIM"]), **table[row]}
        if "au_f1" in details:
            details["au_f1"] = {renamed.get(row, row): f1 for row, f1 in details["au_f1"].items()}
        details["rows"] = "bicubic = the ill input upsampled; output = the restored face; HR = the ground truth"
        return table, details

    def metrics(self, data_aus: tuple[int, ...], *, per_au: bool = False) -> dict[str, float]:
        """Flat metrics for logs and the card: ``psnr``, ``ssim``, ``psnr_occluded``, ``ssim_occluded`` (the output),
        the same with ``_bicubic``, and with an evaluator ``au_f1``, ``au_accuracy``, ``au_auc``, ``au_ap`` (output;
        fractions), the same with ``_bicubic`` and ``_hr`` (the ground truth), and with ``per_au`` each AU's F1
        ``f1_au<n>_<row>`` (row ``output``, ``bicubic`` or ``hr``)."""
        table, details = self.table(data_aus)
        out: dict[str, float] = {}
        for row, suffix in (("output", ""), ("bicubic", "_bicubic")):
            cells = table[row]
            out.update({f"psnr{suffix}": cells["PSNR"], f"ssim{suffix}": cells["SSIM"],
                        f"psnr_occluded{suffix}": cells["PSNR (occluded)"],
                        f"ssim_occluded{suffix}": cells["SSIM (occluded)"]})
        if "HR" in table:
            for row, suffix in (("output", ""), ("bicubic", "_bicubic"), ("HR", "_hr")):
                cells = table[row]
                out.update({f"au_f1{suffix}": cells["AU F1"] / 100, f"au_accuracy{suffix}": cells["AU Acc"] / 100,
                            f"au_auc{suffix}": cells["AU AUC"], f"au_ap{suffix}": cells["AU AP"]})
                for name, f1 in details["au_f1"][row].items() if per_au else ():
                    if name != "avg":
                        out[f"f1_{name.lower()}_{row.lower()}"] = f1 / 100
        return out


@torch.no_grad()
def score_occluded_restoration(model: FaceForgeModel, dataset: Dataset, evaluator: FaceForgeModel | None, *,
                               batch_size: int, num_workers: int = 0, device: str = "cpu",
                               extra_evaluators: dict[str, FaceForgeModel] | None = None,
                               mask_fraction: float = 0.5, mask_fill: float = 0.0,
                               seed: int = EVAL_MASK_SEED) -> OcclusionScores:
    """Restore every face of ``dataset`` from its occluded input and score it (:class:`OcclusionScores`): centre
    crop to the model's output size, MATLAB bicubic down (8-bit), a square of side ``mask_fraction`` of the input
    painted with ``mask_fill`` (face ``i``'s from a generator seeded with ``seed + i``: the same occlusions for every
    model). ``model``: an IGCN generator, or any restorer with ``out["sr"]`` (MPENet: what a network that never
    saw an occlusion makes of one)."""
    from faceforge.evaluation import _centre_crop

    cfg = model.config
    scores = OcclusionScores(image_size=cfg.image_size, evaluator=evaluator, extra_evaluators=extra_evaluators)
    first = 0
    for batch in DataLoader(dataset, batch_size=batch_size, num_workers=num_workers):
        hr, _ = _centre_crop(batch["image"].to(device).float(), cfg.image_size)
        lr = to_low_resolution(hr, cfg.lr_size, quantize=True)
        mask = torch.cat([random_square_mask(1, cfg.lr_size, fraction=mask_fraction,
                                             generator=torch.Generator().manual_seed(seed + first + i))
                          for i in range(hr.shape[0])]).to(device)
        first += hr.shape[0]
        ill = apply_occlusion(lr, mask, fill=mask_fill)
        scores.add(hr, ill, model(ill), mask, au_occurrence=batch.get("au_occurrence"), au_mask=batch.get("au_mask"))
    return scores


@torch.no_grad()
def evaluate_occluded_restoration(model: IGCNGenerator, dataset: Dataset, *, batch_size: int = 32,
                                  num_workers: int = 0, device: str = "cpu",
                                  au_evaluator: str | FaceForgeModel | None = "default", mask_fraction: float = 0.5,
                                  mask_fill: float = 0.0, seed: int = EVAL_MASK_SEED) -> dict:
    """IGCN Tables 1-3 on a face dataset (``faceforge eval``): every face centre-cropped to the model's output size,
    brought down by MATLAB bicubic (8-bit), occluded by a square of side ``mask_fraction`` of the input (face ``i``'s
    from a generator seeded with ``seed + i``), restored and scored by :class:`OcclusionScores`. The AU columns come
    from ``au_evaluator``, a separately trained AU detector (``"default"``: the shipped model of the
    ``evaluator.au`` role; None: no AU columns).

    Returns:
        ``{"table": {row: {column: value}}, "percent": False, "digits": ..., "details": {...}}``.
    """
    from faceforge.evaluation import SR_DIGITS

    model = model.to(device).eval()
    evaluator = None
    if au_evaluator == "default":
        from faceforge.registry import default_model

        au_evaluator = default_model("evaluator.au")
    if au_evaluator is not None:
        from faceforge.loading import load_pretrained

        evaluator = (load_pretrained(au_evaluator) if isinstance(au_evaluator, str) else au_evaluator).to(device)
        evaluator = evaluator.eval()
    cfg = model.config
    scores = score_occluded_restoration(model, dataset, evaluator, batch_size=batch_size, num_workers=num_workers,
                                        device=device, mask_fraction=mask_fraction, mask_fill=mask_fill, seed=seed)
    data_aus = tuple(getattr(dataset, "aus", FACEFORGE_AUS))
    table, details = scores.table(data_aus)
    digits = {**SR_DIGITS, "PSNR (occluded)": 2, "SSIM (occluded)": 4}
    details["occlusion"] = (f"a square of side {mask_fraction:g} of the {cfg.lr_size}x{cfg.lr_size} input, "
                            f"fill {mask_fill:g}")
    if evaluator is not None:
        details["evaluator"] = au_evaluator if isinstance(au_evaluator, str) else type(evaluator).__name__
    return {"table": table, "percent": False, "digits": digits, "details": details}


# --- options --------------------------------------------------------------------------------------------------------
@dataclass
class IGCNOptions:
    """Options of the ``igcn`` task (paper defaults)."""

    # the generator (``options.net.channels=32``); ``variant`` sets its grids for the SRGAN row
    net: IGCNConfig = field(default_factory=IGCNConfig)
    # the row of Tables 1-3: "srgan" (IGCN 1x1 only, no L_cls), "no_au" ("Ours-": no L_cls), "full" ("Ours")
    variant: Variant = "full"
    # Eq. (4)'s pre-trained AU classifier (shipped name, folder or Hub id of an AUDetector), frozen; used by "full"
    au_supervisor: str = "au-detector"
    # Eq. (2)'s feature network: timm VGG-19 weights on disk (f2,2 and f5,4); "" = the trained expression classifier
    vgg19_weights: str = ""
    perceptual_model: str = "expression-classifier"  # ExpressionClassifier: name, folder or Hub id
    perceptual_layers: tuple[int, ...] = (1, 4)  # stage outputs: VGG-19's f2,2 and f5,4 (timm feature indices)
    # losses, Eq. (5)
    lambda_adv: float = 1e-3  # lambda_1; 0 trains without the discriminator
    lambda_cls: float = 1e-3  # lambda_2 (variant "full" only)
    lambda_per: float = 0.5  # lambda_3; 0 trains without the feature network
    # the ill input
    mask_fraction: float = 0.5  # square side / input side: 0.5 covers a quarter of the area
    mask_fill: float = 0.0  # value painted into the square (black)
    # data
    crop_margin: int = 0  # > 0: random image_size crops of (image_size + 2 margin) faces (MPENet's); 0: the faces as is
    train_length: int = 24000  # synthetic training faces
    eval_length: int = 500
    test_length: int | None = 2000  # test faces the model card reports on (None: the whole split)
    eval_split: str = "val"
    # optimisation (Sec. 4.1): Adam 1e-4 for both networks, one D update every d_every G updates
    lr: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    d_every: int = 3
    adv_start: int = 0  # iteration from which D trains and L_adv is used (0: from the start, as the paper)
    d_channels: int = 64  # SRGAN's discriminator width
    # learning-rate schedule: "constant" (the paper) or "cosine" (linear warm-up over ``warmup``, then cosine decay)
    schedule: str = "constant"
    warmup: float = 0.02
    # evaluation: AU metrics of the restored faces by a separately trained detector (Tables 1-2); "" = off
    au_evaluator: str = ""

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        grids, _ = VARIANTS[self.variant]
        default = IGCNConfig().grids
        if grids is not None and self.net.grids != grids:
            if self.net.grids != default:
                raise ValueError(f"net.grids={self.net.grids} conflicts with variant {self.variant!r}, which uses "
                                 f"{grids}; choose the generator with variant ({', '.join(VARIANTS)})")
            self.net = dataclasses.replace(self.net, grids=grids)
        if min(self.lambda_adv, self.lambda_cls, self.lambda_per) < 0:
            raise ValueError("loss weights must be >= 0")
        if not 0 < self.mask_fraction <= 1:
            raise ValueError(f"mask_fraction must be in (0, 1], got {self.mask_fraction}")
        if not 0 <= self.mask_fill <= 1:
            raise ValueError(f"mask_fill must be in [0, 1], got {self.mask_fill}")
        if self.crop_margin < 0:
            raise ValueError(f"crop_margin must be >= 0, got {self.crop_margin}")
        if self.d_every < 1 or self.adv_start < 0 or self.d_channels < 1:
            raise ValueError("d_every and d_channels must be >= 1 and adv_start >= 0")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.au_evaluator and self.au_evaluator == self.au_supervisor:
            raise ValueError(f"au_evaluator {self.au_evaluator!r} is the AU supervisor; the AU metrics need a "
                             f"separately trained detector (au-evaluator-robust)")

    @property
    def uses_cls(self) -> bool:
        """Whether Eq. (4)'s AU classifier loss is part of the objective."""
        return VARIANTS[self.variant][1] and self.lambda_cls > 0


# --- the task -------------------------------------------------------------------------------------------------------
class IGCNTask(Task):
    """The IGCN GAN: the RRMB generator against SRGAN's discriminator with Eq. (5); an EMA of the generator is
    evaluated and exported."""

    Options = IGCNOptions
    opts: IGCNOptions
    ema = ("g",)

    # --- data ----------------------------------------------------------------------------------------------------
    def _faces(self, split: str, length: int | None, *, train: bool) -> OccludedFaces:
        return occluded_split(self, split, length, train=train)

    def train_dataset(self) -> Dataset:
        self.train_set = self._faces("train", self.opts.train_length, train=True)
        self.data_aus = tuple(self.train_set.aus)
        return self.train_set

    def eval_dataset(self) -> Dataset:
        return self._faces(self.opts.eval_split, self.opts.eval_length, train=False)

    # --- networks ------------------------------------------------------------------------------------------------
    def _supervisor(self) -> torch.nn.Module:
        """Eq. (4)'s pre-trained AU classifier, frozen."""
        import faceforge
        from faceforge.modeling import ModelLoadError
        from faceforge.models.au_detector import AUDetector

        name = self.opts.au_supervisor
        if not name:
            raise ConfigError(f"variant {self.opts.variant!r} needs options.au_supervisor, the pre-trained AU "
                              f"classifier of Eq. (4)")
        try:
            detector = faceforge.from_pretrained(name)
        except ModelLoadError as err:
            raise ConfigError(f"options.au_supervisor={name!r} cannot be loaded: {err}") from err
        if not isinstance(detector, AUDetector):
            raise ConfigError(f"options.au_supervisor={name!r} holds a {type(detector).__name__}, not an AUDetector")
        return detector.eval().requires_grad_(False)

    def _perceptual(self) -> torch.nn.Module:
        """Eq. (2)'s frozen feature network: VGG-19 from ``vgg19_weights``, else the expression classifier."""
        from faceforge.losses import PerceptualLoss, PerceptualWeightsError

        o = self.opts
        try:
            if o.vgg19_weights:
                return PerceptualLoss.from_timm_vgg19(o.vgg19_weights, layers=o.perceptual_layers, criterion="l2")
            return PerceptualLoss.from_expression_classifier(o.perceptual_model, layers=o.perceptual_layers,
                                                             criterion="l2")
        except PerceptualWeightsError as err:
            raise ConfigError(f"no feature network for the perceptual loss: {err}") from err

    def build_networks(self) -> dict[str, torch.nn.Module]:
        o = self.opts
        nets: dict[str, torch.nn.Module] = {"g": IGCNGenerator(o.net)}
        if o.lambda_adv > 0:
            nets["d"] = IGCNDiscriminator(IGCNDiscriminatorConfig(image_size=o.net.image_size, channels=o.d_channels))
        if o.uses_cls:
            nets["cls"] = self._supervisor()
        if o.lambda_per > 0:
            nets["perceptual"] = self._perceptual()
        return nets

    def _adam(self, name: str, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(self.nets[name].parameters(), lr=lr, betas=self.opts.betas, eps=self.opts.eps)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"g": self._adam("g", self.opts.lr)}
        if "d" in self.nets:
            optimizers["d"] = self._adam("d", self.opts.lr_d)
        return optimizers

    def build_schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        if self.opts.schedule == "constant":
            return {}
        return {name: warmup_cosine(optimizer, self.total_steps, self.opts.warmup)
                for name, optimizer in self.optimizers.items()}

    def steps(self) -> list[Step]:
        # "learning one time of discriminator every three times of generator"
        steps = [Step("d", self.d_step, every=self.opts.d_every, start=self.opts.adv_start)] if "d" in self.nets else []
        return [*steps, Step("g", self.g_step)]

    # --- losses --------------------------------------------------------------------------------------------------
    def generator_loss(self, batch: dict[str, torch.Tensor], out) -> tuple[torch.Tensor, dict[str, Any]]:
        """Eq. (5): L_G = L_pix + lambda_1 L_adv + lambda_2 L_cls + lambda_3 L_per, with the terms a variant or a zero
        weight leaves out not computed; the logs hold each term unweighted."""
        o, nets = self.opts, self.nets
        sr, hr = out["sr"].float(), batch["image"]
        # Eq. (1): L_pix = E ||I_gt - I_out||^2
        pix = F.mse_loss(sr, hr)
        loss, logs = pix, {"pix": pix}
        region = F.interpolate(batch["mask"], size=hr.shape[-2:], mode="nearest")
        logs["pix_occluded"] = ((sr.detach() - hr).square() * region).sum() / (3 * region.sum()).clamp(min=1)
        if "d" in nets and self.iteration >= o.adv_start:
            # Eq. (3), the generator's side: -log D(I_out)
            adv = F.softplus(-nets["d"](out["sr"]).float()).mean()
            loss = loss + o.lambda_adv * adv
            logs["adv"] = adv
        if "cls" in nets:
            # Eq. (4): L_cls = E ||C(I_gt) - C(I_out)||^2 on the logits of the last FC layer, before the sigmoid
            with torch.no_grad():
                target = nets["cls"](hr).float()
            cls = F.mse_loss(nets["cls"](out["sr"]).float(), target)
            loss = loss + o.lambda_cls * cls
            logs["cls"] = cls
        if "perceptual" in nets:
            # Eq. (2): L_per = E ||f22(I_gt) - f22(I_out)||^2 + ||f54(I_gt) - f54(I_out)||^2
            per = nets["perceptual"](sr, hr)
            loss = loss + o.lambda_per * per
            logs["per"] = per
        return loss, logs

    def g_step(self, batch: dict[str, torch.Tensor]):
        return self.generator_loss(batch, self.nets["g"](batch["lr"]))

    def d_step(self, batch: dict[str, torch.Tensor]):
        with torch.no_grad():
            fake = self.nets["g"](batch["lr"])["sr"]
        real_logit, fake_logit = self.nets["d"](batch["image"]).float(), self.nets["d"](fake).float()
        # Eq. (3), the discriminator's side: -log D(I_gt) - log(1 - D(I_out))   (log D = -softplus(-logit))
        loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
        return loss, {"real": real_logit.mean(), "fake": fake_logit.mean()}

    # --- evaluation ----------------------------------------------------------------------------------------------
    def _evaluator(self):
        if not self.opts.au_evaluator:
            return None
        if not hasattr(self, "_au_evaluator"):
            import faceforge

            self._au_evaluator = faceforge.from_pretrained(self.opts.au_evaluator).to(self.device).eval()
        return self._au_evaluator

    def _score(self, loader) -> OcclusionScores:
        scores = OcclusionScores(image_size=self.opts.net.image_size, evaluator=self._evaluator())
        for batch in loader:
            scores.add(batch["image"], batch["lr"], self.nets["g"](batch["lr"]), batch["mask"],
                       au_occurrence=batch["au_occurrence"], au_mask=batch["au_mask"])
        return scores

    def evaluate(self, loader) -> dict[str, float]:
        """:meth:`OcclusionScores.metrics` of the eval split: PSNR / SSIM on Y of the whole face and of the occluded
        square (output and bicubic), and with ``au_evaluator`` the AU columns."""
        return self._score(loader).metrics(self.data_aus)

    def sample(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row: the ill input (nearest upsampling) | its bicubic upsampling | the output | the HR face."""
        g = self.nets["g"]
        lr, scale = batch["lr"], self.opts.net.scale
        nearest = F.interpolate(lr, scale_factor=scale, mode="nearest")
        return torch.cat([nearest, imresize(lr, scale=scale, clamp=True), g.restore(lr).float(), batch["image"]],
                         dim=-1)

    def export(self) -> IGCNGenerator:
        return self.nets["g"]

    # --- model card ----------------------------------------------------------------------------------------------
    def card_pictures(self, model: IGCNGenerator) -> dict[str, Any]:
        """``adjacency.png``: the normalised adjacency matrices of the generator's IGCN grids."""
        return {"adjacency.png": model.adjacency_picture()}

    def test_metrics(self) -> dict[str, float]:
        """``evaluate``'s metrics on the test split (fixed masks) with each AU's F1: the figures the card reports."""
        test = self._faces("test", self.opts.test_length, train=False)
        loader = DataLoader(test, batch_size=self.run.eval_batch_size or self.run.batch_size, num_workers=0)
        batches = ({k: v.to(self.device) for k, v in b.items()} for b in loader)
        return self._score(batches).metrics(self.data_aus, per_au=True)

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        o, cfg = self.opts, self.opts.net
        lr, size = cfg.lr_size, cfg.image_size
        side = max(1, round(o.mask_fraction * lr))
        data_id, data_text = dataset_card_name(self)
        row = PAPER_ROWS[o.variant]
        rows = [{"name": f"{kind.upper()} (Y){where}", "type": kind, "value": round(test[f"{kind}{key}"], 4),
                 "dataset_name": data_id, "dataset_type": data_id, "dataset_split": "test"}
                for key, where in (("", ""), ("_occluded", ", occluded region")) for kind in ("psnr", "ssim")]
        quality = ["| output | PSNR-Y (dB) | SSIM-Y | PSNR-Y occluded | SSIM-Y occluded |", "|---|---|---|---|---|"]
        for name, suffix in (("bicubic (ill input)", "_bicubic"), (f"{row} (this model)", "")):
            quality.append(f"| {name} | {test[f'psnr{suffix}']:.2f} | {test[f'ssim{suffix}']:.4f} | "
                           f"{test[f'psnr_occluded{suffix}']:.2f} | {test[f'ssim_occluded{suffix}']:.4f} |")
        sections = {"Restoration on the test split (fixed masks)": "\n".join(quality)}
        relations = [name for name, on in (("left/right symmetry", cfg.symmetry),
                                            ("AU co-occurrence and exclusion", cfg.au_relations),
                                            ("similar template content", cfg.similarity_threshold is not None)) if on]
        sections["The facial-structure graphs"] = (
            f"Each IGCN splits its feature map into k x k patches, the nodes of a fixed graph; the normalised "
            f"adjacency (Kipf and Welling's D^-1/2 (A + I) D^-1/2) links the patches by "
            f"{', '.join(relations) or 'no relation (self-loops only)'}, from the canonical 68-landmark template:\n\n"
            f"![The normalised adjacency matrices of IGCN {', '.join(f'{k}x{k}' for k in cfg.grids)}](adjacency.png)")
        if "au_f1" in test:
            aus = [au for au in self.data_aus if f"f1_au{au}_output" in test]
            lines = [f"AU F1 of the faces as {o.au_evaluator} (trained apart from the supervisor) detects them "
                     f"(Tables 1-2 layout).", "", "| AU | bicubic | output | ground truth |", "|---|---|---|---|"]
            for au in aus:
                cells = " | ".join(_cell(test[f"f1_au{au}_{row}"]) for row in ("bicubic", "output", "hr"))
                lines.append(f"| {au_label(au)} | {cells} |")
            lines.append(f"| avg F1 | {test['au_f1_bicubic']:.3f} | {test['au_f1']:.3f} | {test['au_f1_hr']:.3f} |")
            lines.append(f"| avg accuracy | {test['au_accuracy_bicubic']:.3f} | {test['au_accuracy']:.3f} | "
                         f"{test['au_accuracy_hr']:.3f} |")
            sections["AU detection on the restored faces"] = "\n".join(lines)
        faces = self.total_steps * self.run.batch_size * self.run.grad_accum * self.num_processes
        terms = ["L_pix", *([f"{o.lambda_adv:g} L_adv"] if "d" in self.nets else []),
                 *([f"{o.lambda_cls:g} L_cls"] if o.uses_cls else []),
                 *([f"{o.lambda_per:g} L_per"] if o.lambda_per > 0 else [])]
        training = {
            "data": (f"{data_text}; {size}x{size} faces with horizontal flips, MATLAB-bicubic x{cfg.scale} inputs "
                     f"with a random {side}x{side} square painted on each (fill {o.mask_fill:g})"),
            "schedule": (f"{self.total_steps} iterations, {faces} faces = {faces / len(self.train_set):.2f} epochs of "
                         f"the {len(self.train_set)} training faces; Adam lr {o.lr:g} ({o.schedule})"),
            "objective": f"Eq. (5): {' + '.join(terms)}",
        }
        if "d" in self.nets:
            training["discriminator"] = (f"SRGAN's ({o.d_channels} channels), one update every {o.d_every} generator "
                                         f"updates, Adam lr {o.lr_d:g}")
        if o.uses_cls:
            training["AU classifier"] = f"{o.au_supervisor}, frozen: squared distance of its logits (Eq. 4)"
        if o.lambda_per > 0:
            source = (f"VGG-19 ({o.vgg19_weights})" if o.vgg19_weights else
                      f"{o.perceptual_model} (the paper: ImageNet VGG-19, whose weights cannot be obtained offline)")
            training["perceptual loss"] = f"feature maps {', '.join(map(str, o.perceptual_layers))} of {source}"
        if o.au_evaluator:
            training["AU evaluation"] = (f"{o.au_evaluator}, a separately trained detector (not the supervisor)")
        grids = " + ".join(f"IGCN {k}x{k}" for k in cfg.grids)
        return {
            "title": f"faceforge IGCN ({row})",
            "summary": (f"Restoration of occluded {lr}x{lr} faces to {size}x{size} (aligned faces) with an SRGAN-style "
                        f"generator of {cfg.blocks} region relation modeling blocks ({grids}) over a facial-structure "
                        f"graph of face patches (Liu, Li, Wu and Zhang, MMM 2020; row '{row}' of its tables)."),
            "pipeline_tag": "image-to-image",
            "datasets": [data_id],
            "metrics": rows,
            "training": training,
            "tags": ["face-restoration", "face-inpainting", "super-resolution", "graph-convolution", "action-units"],
            "sections": sections,
            "usage": ("import faceforge, torch\n"
                      "from faceforge.data.degrade import degrade\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")\n"
                      f"hr = torch.rand(1, 3, {size}, {size})  # aligned faces in [0, 1]\n"
                      f"ill = degrade(hr, scale={cfg.scale}, fraction={o.mask_fraction:g}).lr  # {lr}x{lr}, occluded\n"
                      f"face = model.restore(ill)  # (1, 3, {size}, {size}) in [0, 1]; model(ill)['sr'] unclamped"),
        }
