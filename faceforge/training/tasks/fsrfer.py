"""Training tasks of FSR-FER (``faceforge.models.fsrfer``; Jing, Tian, Zhang, Chao, Hong and Liu, "Feature
Super-Resolution Based Facial Expression Recognition for Multi-scale Low-Resolution Faces", arXiv:2004.02234, 2020).

Two tasks, the paper's two stages, each exporting its own network:

* ``covpoolfer`` trains the backbone, CovPoolFER, with cross-entropy on the expression labels of HR faces ("a
  pre-trained FER model was employed as a feature extractor"). It is a task of its own rather than an option of
  ``fsrfer`` because FSR-FER needs it trained *before* and frozen *during* the GAN training, because one backbone
  serves every FSR-FER run (the variants, the seeds), and because it is a recogniser worth publishing and scoring
  by itself: its accuracy on bicubic-upsampled LR faces is the paper's "Bicubic" row. AdamW with a warm-up and
  cosine decay (faceforge's, as the other classifiers; the paper does not say how CovPoolFER was trained).
* ``fsrfer`` trains G and D on the frozen backbone's features (``options.backbone``) and exports
  :class:`~faceforge.models.fsrfer.FSRFER`, the backbone and G in one network that recognises LR faces.

Data (Sec. 4.1): aligned faces at the backbone's side (100x100, RAF-DB's), FaceForge-Synth rendered at that size
(its eight expressions; a prepared real set is resized to it by MATLAB bicubic). Each training face gets one
down-sampling factor drawn uniformly from ``factors`` (x2-x8) per sample, anew every epoch, so one generator learns
every factor ("we can use one model for all down-sample factors"); the LR face is MATLAB-bicubic down by that
factor (8-bit) and bicubic back up to 100x100 (:func:`~faceforge.models.fsrfer.low_resolution_input`). Training
faces are flipped horizontally at random.

Losses of G and D (Sec. 3.2-3.3), F_hr and F_lr the frozen backbone's features of the HR face and of its LR
version, F_sr = G(F_lr):

* Eq. (7), G's adversarial term: L_gan(G) = E[D(F_sr)];
* Eq. (8), D's loss, WGAN-div (Wu et al., ECCV 2018): L(D) = E[D(F_hr)] - E[D(F_sr)] + k E[||grad D(x^)||^p] with
  x^ = u F_hr + (1 - u) F_sr, u ~ U[0, 1] per sample, k = 2, p = 6 (:func:`wgan_div_penalty`);
* Eq. (9), the perceptual loss: ||C(F_sr) - C(F_hr)||^2 on the 128-d output of C, the backbone after its SPD layers;
* the feature-wise L2 loss: ||F_sr - F_hr||^2 (the squared Frobenius distance of the log-matrices);
* Eq. (10): L(G) = L_gan + L_p + L_2 (weights ``lambda_adv``, ``lambda_per``, ``lambda_l2``, 1 each);
* Eq. (11), the classification-aware re-weighting: each face's generator loss times w_i = (sigma - p_i)^r,
  sigma = 1.5, r = 1, p_i the frozen classifier's probability of the face's true expression. The paper's Fig. 2
  has the "FSR classifier" as the supervisor: p_i is read on F_sr by default (``reweight_on: sr``), on F_lr with
  ``reweight_on: lr``; w_i is a constant (no gradient flows through it). Every term is averaged over the batch
  (Eq. (11) writes a sum, a batch-size-dependent scale). ``reweight: false`` is the paper's Table 2 baseline
  "w/o re-weighting".

Optimisation (Sec. 3.4): Adam with beta_1 = 0 (beta_2 is not given: 0.99 here), learning rate 2e-4 for G and D,
halved at iterations 20k, 50k, 100k and 200k (``milestones``; a ``MultiStepLR`` of each optimiser, which counts its
own updates), one D update per G update.

Evaluation: accuracy of the backbone on the HR faces and on their bicubic-upsampled LR versions at every factor
(Table 1's "Bicubic" row), and of FSR-FER (the backbone's classifier on G's features) at every factor and on HR
faces (:func:`recognition_accuracy`). Run with ``train/configs/covpoolfer.yaml`` then ``train/configs/fsrfer.yaml``
(the paper's schedule) or their ``_cpu`` versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from faceforge.config import ConfigError
from faceforge.data.degrade import imresize
from faceforge.losses.adversarial import interpolated_gradients
from faceforge.modeling import FaceForgeModel
from faceforge.models.fsrfer import (
    FSRFER,
    CovPoolFER,
    CovPoolFERConfig,
    FeatureDiscriminator,
    FeatureDiscriminatorConfig,
    FeatureGenerator,
    FeatureGeneratorConfig,
    low_resolution_input,
)
from faceforge.models.sr_baselines import VDSR, VDSRConfig
from faceforge.training.task import Step, Task
from faceforge.training.tasks.faces import SingleNetworkTask, dataset_card_name, face_split

FACTORS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)  # Sec. 4.1: integer down-sampling factors x2 to x8
ROWS = ("bicubic", "FSR-FER", "ISR")  # Table 1's rows this family can measure


# --- data ------------------------------------------------------------------------------------------------------------
def at_size(image: torch.Tensor, size: int) -> torch.Tensor:
    """A face at the backbone's side: as it is when it has that side, else MATLAB-bicubic resized (clamped)."""
    image = torch.as_tensor(image).float()
    if tuple(image.shape[-2:]) == (size, size):
        return image
    return imresize(image, size=size, clamp=True)


class LowResolutionFaces(Dataset):
    """Faces with their LR version at one down-sampling factor each.

    Args:
        faces: samples with ``image`` (3, S, S) in [0, 1] and ``expression`` (class index).
        size: the backbone's side; other sides are resized to it.
        factors: the down-sampling factors.
        train: draw each sample's factor uniformly from ``factors`` with torch's RNG (the loop seeds it per sample);
            otherwise face ``i`` gets ``factors[i % len(factors)]``.

    Samples: ``image`` (3, size, size), ``lr`` (3, size, size) (:func:`low_resolution_input` of ``image``),
    ``factor`` (int) and ``expression`` (int).
    """

    def __init__(self, faces: Dataset, *, size: int, factors: tuple[int, ...], train: bool):
        if not factors:
            raise ValueError("factors must name at least one down-sampling factor")
        self.faces, self.size, self.factors, self.train = faces, size, tuple(factors), train

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.faces[index]
        image = at_size(sample["image"], self.size)
        if self.train:
            factor = self.factors[int(torch.randint(len(self.factors), ()))]
        else:
            factor = self.factors[index % len(self.factors)]
        return {"image": image, "lr": low_resolution_input(image, factor), "factor": factor,
                "expression": int(sample["expression"])}


def low_resolution_split(task: Task, split: str, length: int | None, *, size: int, factors: tuple[int, ...],
                         train: bool) -> LowResolutionFaces:
    """A split of the run's faces at the backbone's side (synthetic faces are rendered at it), training faces
    flipped at random."""
    return LowResolutionFaces(face_split(task, split, length=length, hflip=train, size=size), size=size,
                              factors=factors, train=train)


# --- losses ----------------------------------------------------------------------------------------------------------
def wgan_div_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *, k: float = 2.0, p: float = 6.0,
                     mix: torch.Tensor | None = None) -> torch.Tensor:
    """The Wasserstein-divergence term of Eq. (8): k E[||grad_x D(x^)||^p], x^ = u real + (1 - u) fake.

    Args:
        critic: D, (B, ...) -> (B,) scores.
        real: (B, ...) F_hr; fake: (B, ...) F_sr (both detached from G).
        k, p: WGAN-div's coefficient and power (the paper's 2 and 6).
        mix: (B,) the u of each sample; default uniform in [0, 1) from torch's RNG.

    Returns:
        0-d tensor, differentiable with respect to the critic's parameters (the gradient is taken with
        ``create_graph``).
    """
    grad = interpolated_gradients(critic, real, fake, mix)
    # ||g||^p as (||g||^2)^(p/2): no square root, so a zero gradient has a zero (not NaN) derivative
    return k * grad.square().sum(1).pow(p / 2).mean()


def reweighting(probability: torch.Tensor, *, sigma: float = 1.5, r: float = 1.0) -> torch.Tensor:
    """Eq. (11)'s weights w_i = (sigma - p_i)^r of the true class's probabilities p_i: 1.5 - p with the paper's
    sigma = 1.5, r = 1, so a face the classifier gets wrong (p -> 0) weighs three times one it is sure of."""
    return (sigma - probability).pow(r)


@torch.no_grad()
def recognition_accuracy(backbone: CovPoolFER, generator: FeatureGenerator | None, batches, *,
                         factors: tuple[int, ...] = FACTORS,
                         restorer: torch.nn.Module | None = None) -> dict[str, dict[str, float]]:
    """Accuracy on HR faces and on their LR versions at each factor: Table 1's layout.

    Args:
        backbone: the CovPoolFER.
        generator: G, or None (the ``FSR-FER`` row is left out).
        batches: iterable of batches with ``image`` (B, 3, S, S) HR faces at the backbone's side and
            ``expression`` (B,).
        factors: the down-sampling factors.
        restorer: an image super-resolution network of bicubic-upsampled faces (``ISRNet``, the ``fsrfer_isr``
            task's), or None (the ``ISR`` row is left out).

    Returns:
        ``{"bicubic": {...}, "FSR-FER": {...}, "ISR": {...}}`` (fractions; the rows asked for): columns ``HR``,
        ``x<f>`` for each factor and ``avg`` (the mean over the factors, Table 2's). ``bicubic``: the backbone on
        the faces as they are (HR) and upsampled by bicubic interpolation; ``FSR-FER``: its classifier on G's
        features of the same inputs; ``ISR``: the backbone on the restorer's faces (HR: the faces as they are).
    """
    rows = [row for row, on in zip(ROWS, (True, generator is not None, restorer is not None), strict=True) if on]
    columns = ["HR", *(f"x{f}" for f in factors)]
    correct = {row: dict.fromkeys(columns, 0) for row in rows}
    total = 0
    for batch in batches:
        hr = batch["image"].float()
        target = torch.as_tensor(batch["expression"], device=hr.device)
        total += len(target)
        for column, factor in (("HR", 1), *((f"x{f}", f) for f in factors)):
            faces = hr if factor == 1 else low_resolution_input(hr, factor)
            features = backbone.features(faces)
            correct["bicubic"][column] += int((backbone.classify_features(features).argmax(1) == target).sum())
            if generator is not None:
                predicted = backbone.classify_features(generator(features)).argmax(1)
                correct["FSR-FER"][column] += int((predicted == target).sum())
            if restorer is not None:
                restored = faces if factor == 1 else restorer(faces)["sr"].clamp(0, 1)
                correct["ISR"][column] += int((backbone(restored).argmax(1) == target).sum())
    if not total:
        raise ValueError("no faces to measure the accuracy on")
    table = {row: {c: n / total for c, n in counts.items()} for row, counts in correct.items()}
    for cells in table.values():
        cells["avg"] = sum(cells[f"x{f}"] for f in factors) / len(factors)
    return table


def _parts(model: FaceForgeModel) -> tuple[CovPoolFER, FeatureGenerator | None]:
    if isinstance(model, FSRFER):
        return model.backbone, model.generator
    if isinstance(model, CovPoolFER):
        return model, None
    raise TypeError(f"low-resolution recognition scores a CovPoolFER or an FSRFER, got {type(model).__name__}")


@torch.no_grad()
def evaluate_low_resolution_recognition(model: FaceForgeModel, dataset: Dataset, *, batch_size: int = 64,
                                        num_workers: int = 0, device: str = "cpu",
                                        factors: tuple[int, ...] = FACTORS) -> dict:
    """FSR-FER Table 1 on a face dataset (``faceforge eval``): every face resized to the backbone's side (MATLAB
    bicubic, where it has another), then :func:`recognition_accuracy` at each factor: the backbone on bicubic-
    upsampled LR faces (row ``bicubic``, for a CovPoolFER the only row) and, for an FSRFER, the classifier on G's
    features (row ``FSR-FER``), with the HR accuracy and the mean over the factors.

    Returns:
        ``{"table": {row: {column: fraction}}, "percent": True, "details": {...}}``.
    """
    model = model.to(device).eval()
    backbone, generator = _parts(model)
    size = backbone.config.image_size
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    count = [0]

    def batches():
        for batch in loader:
            count[0] += len(batch["expression"])
            yield {"image": at_size(batch["image"], size).to(device),
                   "expression": torch.as_tensor(batch["expression"]).to(device)}

    table = recognition_accuracy(backbone, generator, batches(), factors=factors)
    details = {"samples": count[0], "factors": list(factors),
               "rows": "bicubic = the backbone on LR faces brought back up by bicubic interpolation (HR: the faces "
                       "as they are); FSR-FER = its classifier on G's features of the same faces"}
    return {"table": table, "percent": True, "details": details}


def _flat(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """``accuracy_<column>`` for FSR-FER or the ISR route (the backbone alone where there is neither),
    ``accuracy_bicubic_<column>``."""
    main = next((row for row in ("FSR-FER", "ISR") if row in table), "bicubic")
    out = {f"accuracy_{c.lower()}": v for c, v in table[main].items()}
    if main != "bicubic":
        out.update({f"accuracy_bicubic_{c.lower()}": v for c, v in table["bicubic"].items()})
    return out


def _markdown(table: dict[str, dict[str, float]], names: dict[str, str]) -> str:
    columns = list(next(iter(table.values())))
    lines = [f"| method | {' | '.join(columns)} |", "|---|" + "---|" * len(columns)]
    lines += [f"| {names[row]} | {' | '.join(f'{100 * v:.2f}' for v in cells.values())} |"
              for row, cells in table.items()]
    return "\n".join(lines)


def _device_batches(task: Task, dataset: Dataset):
    loader = DataLoader(dataset, batch_size=task.run.eval_batch_size or task.run.batch_size, num_workers=0)
    return ({k: (v.to(task.device) if torch.is_tensor(v) else v) for k, v in b.items()} for b in loader)


def load_backbone(name: str) -> CovPoolFER:
    """The trained CovPoolFER ``name`` (shipped name, folder or Hub id), frozen in eval mode; a ConfigError
    naming ``options.backbone`` when it cannot be loaded or holds another network."""
    import faceforge
    from faceforge.errors import ModelLoadError

    try:
        backbone = faceforge.from_pretrained(name)
    except ModelLoadError as err:
        raise ConfigError(f"options.backbone={name!r} cannot be loaded: {err}") from err
    if not isinstance(backbone, CovPoolFER):
        raise ConfigError(f"options.backbone={name!r} holds a {type(backbone).__name__}, not a CovPoolFER "
                          f"(train one with --task covpoolfer)")
    return backbone.eval().requires_grad_(False)


# --- the backbone: CovPoolFER ----------------------------------------------------------------------------------------
@dataclass
class CovPoolFEROptions:
    """Options of the ``covpoolfer`` task."""

    net: CovPoolFERConfig = field(default_factory=CovPoolFERConfig)  # options.net.widths=[32,64,128]
    lr: float = 1e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    warmup: float = 0.05
    factors: tuple[int, ...] = FACTORS  # the factors its card reports the bicubic accuracy at
    train_length: int = 24000
    eval_length: int = 500
    test_length: int | None = 2000  # test faces the card reports on (None: the whole split)
    eval_split: str = "val"

    def __post_init__(self) -> None:
        _check_factors(self.factors)
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.warmup < 1:
            raise ValueError("label_smoothing and warmup must be in [0, 1)")


def _check_factors(factors: tuple[int, ...]) -> None:
    if not factors or len(set(factors)) != len(factors) or any(not 2 <= f <= 16 for f in factors):
        raise ValueError(f"factors must be distinct integers in [2, 16], got {factors}")


class _LowResolutionTask(SingleNetworkTask):
    """A one-network task on :class:`LowResolutionFaces` at its network's side (``options.net.image_size``) and
    ``options.factors``."""

    def _faces(self, split: str, length: int | None, *, train: bool) -> LowResolutionFaces:
        o = self.opts
        return low_resolution_split(self, split, length, size=o.net.image_size, factors=o.factors, train=train)

    def train_dataset(self) -> Dataset:
        self.train_set = self._faces("train", self.opts.train_length, train=True)
        return self.train_set

    def eval_dataset(self) -> Dataset:
        return self._faces(self.opts.eval_split, self.opts.eval_length, train=False)


class CovPoolFERTask(_LowResolutionTask):
    """CovPoolFER trained with cross-entropy on the expressions of HR faces."""

    Options = CovPoolFEROptions
    opts: CovPoolFEROptions

    def build_networks(self) -> dict[str, torch.nn.Module]:
        return {"net": CovPoolFER(self.opts.net)}

    def step(self, batch: dict[str, Any]):
        logits = self.nets["net"](batch["image"]).float()
        target = torch.as_tensor(batch["expression"], device=logits.device)
        loss = F.cross_entropy(logits, target, label_smoothing=self.opts.label_smoothing)
        return loss, {"accuracy": (logits.argmax(1) == target).float().mean()}

    def evaluate(self, loader) -> dict[str, float]:
        """``accuracy_hr``, ``accuracy_x<f>`` (bicubic-upsampled LR faces) and ``accuracy_avg``."""
        return _flat(recognition_accuracy(self.nets["net"], None, loader, factors=self.opts.factors))

    def test_metrics(self) -> dict[str, dict[str, float]]:
        """:func:`recognition_accuracy` of the test split: ``{"bicubic": {"HR", "x2", ..., "avg"}}``."""
        test = self._faces("test", self.opts.test_length, train=False)
        return recognition_accuracy(self.nets["net"], None, _device_batches(self, test), factors=self.opts.factors)

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        cfg = self.opts.net
        data_id, data_text = dataset_card_name(self)
        size = cfg.image_size
        rows = [{"name": f"accuracy ({column})", "type": "accuracy", "value": round(value, 4),
                 "dataset_name": data_id, "dataset_type": data_id, "dataset_split": "test"}
                for column, value in test["bicubic"].items()]
        spd = " -> ".join(str(d) for d in (cfg.cov_channels, *cfg.spd_dims))
        return {
            "title": "faceforge CovPoolFER",
            "summary": (f"Expression recognition over {', '.join(cfg.classes)} on {size}x{size} aligned faces: a CNN "
                        f"whose last feature map is covariance-pooled and reduced by SPDNet layers (BiMap + ReEig "
                        f"{spd}, LogEig), then dense layers to a {cfg.embedding}-d embedding and a softmax (Acharya et "
                        f"al., CVPR Workshops 2018). The frozen backbone of FSR-FER (Jing et al., 2020)."),
            "pipeline_tag": "image-classification",
            "datasets": [data_id],
            "metrics": rows,
            "training": {"data": f"{data_text}; {size}x{size} faces with horizontal flips",
                         "objective": f"cross-entropy (label smoothing {self.opts.label_smoothing:g})",
                         "optimiser": f"AdamW lr {self.opts.lr:g}, weight decay {self.opts.weight_decay:g}, "
                                      f"warm-up {self.opts.warmup:g} and cosine decay"},
            "tags": ["facial-expression-recognition", "covariance-pooling", "spd-matrices"],
            "sections": {"Accuracy on the test split, %": (
                "HR: the faces as they are; x<f>: MATLAB-bicubic down by f (8-bit) and bicubic back up to "
                f"{size}x{size} (FSR-FER's Table 1 'Bicubic' row); avg: the mean over the factors.\n\n"
                + _markdown(test, {"bicubic": "CovPoolFER (this model)"}))},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")\n"
                      f"logits = model(torch.rand(4, 3, {size}, {size}))  # aligned faces in [0, 1]\n"
                      "features = model.features(torch.rand(4, 3, "
                      f"{size}, {size}))  # (4, {cfg.feature_size}, {cfg.feature_size}) log-matrices"),
        }


# --- FSR-FER ---------------------------------------------------------------------------------------------------------
@dataclass
class FSRFEROptions:
    """Options of the ``fsrfer`` task (paper defaults)."""

    # G (options.net.channels=32); its feature_size must be the backbone's
    net: FeatureGeneratorConfig = field(default_factory=FeatureGeneratorConfig)
    # the trained CovPoolFER (shipped name, folder or Hub id), frozen: F + SPD, C and the classifier
    backbone: str = "covpoolfer"
    factors: tuple[int, ...] = FACTORS
    # Eq. (11): w_i = (sigma - p_i)^r on every term of G's loss; false: Table 2's "w/o re-weighting"
    reweight: bool = True
    reweight_on: Literal["sr", "lr"] = "sr"  # the features p_i is read on: F_sr (the FSR classifier) or F_lr
    sigma: float = 1.5
    r: float = 1.0
    # Eq. (8): WGAN-div
    k: float = 2.0
    p: float = 6.0
    # Eq. (10): L(G) = L_gan + L_p + L_2
    lambda_adv: float = 1.0
    lambda_per: float = 1.0
    lambda_l2: float = 1.0
    # D: ESRGAN's discriminator without batch norm
    d_channels: int = 64
    d_stages: int = 3
    d_hidden: int = 100
    d_every: int = 1
    # optimisation (Sec. 3.4): Adam, beta_1 = 0, 2e-4 halved at the milestones (each optimiser's updates)
    lr: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.99)
    milestones: tuple[int, ...] = (20000, 50000, 100000, 200000)
    lr_gamma: float = 0.5
    # data
    train_length: int = 24000
    eval_length: int = 500
    test_length: int | None = 2000
    eval_split: str = "val"

    def __post_init__(self) -> None:
        _check_factors(self.factors)
        if self.sigma <= 1 or self.r <= 0:
            raise ValueError(f"the re-weighting needs sigma > 1 (so that every weight is positive) and r > 0, got "
                             f"sigma={self.sigma}, r={self.r}")
        if self.k < 0 or self.p <= 0:
            raise ValueError(f"WGAN-div needs k >= 0 and p > 0, got k={self.k}, p={self.p}")
        if min(self.lambda_adv, self.lambda_per, self.lambda_l2) < 0:
            raise ValueError("loss weights must be >= 0")
        if min(self.d_channels, self.d_stages, self.d_hidden, self.d_every) < 1:
            raise ValueError("d_channels, d_stages, d_hidden and d_every must be >= 1")
        if list(self.milestones) != sorted(set(self.milestones)) or any(m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be increasing positive iterations, got {self.milestones}")
        if not 0 < self.lr_gamma <= 1:
            raise ValueError(f"lr_gamma must be in (0, 1], got {self.lr_gamma}")


class FSRFERTask(Task):
    """G against D on the frozen CovPoolFER's features with Eq. (7)-(11); exports the FSRFER recogniser."""

    Options = FSRFEROptions
    opts: FSRFEROptions
    ema = ("g",)

    # --- data ----------------------------------------------------------------------------------------------------
    def _faces(self, split: str, length: int | None, *, train: bool) -> LowResolutionFaces:
        return low_resolution_split(self, split, length, size=self.image_size, factors=self.opts.factors,
                                    train=train)

    @property
    def image_size(self) -> int:
        """The backbone's input side."""
        return self.backbone().config.image_size

    def backbone(self) -> CovPoolFER:
        """The trained CovPoolFER of ``options.backbone``, frozen, loaded once (the datasets need its side before
        the networks are built)."""
        if not hasattr(self, "_backbone"):
            self._backbone = load_backbone(self.opts.backbone)
        return self._backbone

    def train_dataset(self) -> Dataset:
        self.train_set = self._faces("train", self.opts.train_length, train=True)
        return self.train_set

    def eval_dataset(self) -> Dataset:
        return self._faces(self.opts.eval_split, self.opts.eval_length, train=False)

    # --- networks ------------------------------------------------------------------------------------------------
    def build_networks(self) -> dict[str, torch.nn.Module]:
        o = self.opts
        backbone = self.backbone()
        d = backbone.config.feature_size
        if o.net.feature_size != d:
            raise ConfigError(f"options.net.feature_size is {o.net.feature_size} but the backbone's features are "
                              f"{d}x{d}: set options.net.feature_size={d}")
        critic = FeatureDiscriminatorConfig(feature_size=d, channels=o.d_channels, stages=o.d_stages,
                                            hidden=o.d_hidden)
        return {"backbone": backbone, "g": FeatureGenerator(o.net),
                "d": FeatureDiscriminator(critic)}

    def _adam(self, name: str, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(self.nets[name].parameters(), lr=lr, betas=self.opts.betas)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self._adam("g", self.opts.lr), "d": self._adam("d", self.opts.lr_d)}

    def build_schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        # "The learning rate is set to 2e-4 and halved at [20k, 50k, 100k, 200k] iterations."
        return {name: torch.optim.lr_scheduler.MultiStepLR(optimizer, list(self.opts.milestones),
                                                           gamma=self.opts.lr_gamma)
                for name, optimizer in self.optimizers.items()}

    def steps(self) -> list[Step]:
        return [Step("d", self.d_step, every=self.opts.d_every), Step("g", self.g_step)]

    # --- losses --------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(F_hr, F_lr), Eq. (1)-(2): the frozen backbone's features of the HR faces and of their LR versions.

        The D and G steps of an iteration see the same batch: its features are computed once and kept for the
        batch (recognised by its image tensor) while the backbone is frozen."""
        if getattr(self, "_features_of", None) is not batch["image"]:
            backbone = self.nets["backbone"]
            self._features = backbone.features(batch["image"]), backbone.features(batch["lr"])
            self._features_of = batch["image"]
        return self._features

    def generator_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Eq. (10) per face, re-weighted by Eq. (11) unless ``reweight`` is off, averaged over the batch; the logs
        hold each term's batch mean unweighted."""
        o, backbone = self.opts, self.nets["backbone"]
        f_hr, f_lr = self.features(batch)
        f_sr = self.nets["g"](f_lr).float()
        adv = self.nets["d"](f_sr).float()  # Eq. (7): D(F_sr)
        e_sr = backbone.embed(f_sr)
        with torch.no_grad():
            e_hr = backbone.embed(f_hr)
        per = (e_sr - e_hr).square().sum(1)  # Eq. (9): ||C(F_sr) - C(F_hr)||^2
        l2 = (f_sr - f_hr).square().flatten(1).sum(1)  # the feature-wise L2 loss
        per_face = o.lambda_adv * adv + o.lambda_per * per + o.lambda_l2 * l2
        target = torch.as_tensor(batch["expression"], device=f_sr.device)
        with torch.no_grad():
            probability = backbone.classify(e_sr.detach()).softmax(1)
            true_sr = probability.gather(1, target[:, None]).squeeze(1)
            if o.reweight_on == "lr":
                true = backbone.classify_features(f_lr).softmax(1).gather(1, target[:, None]).squeeze(1)
            else:
                true = true_sr
        logs: dict[str, Any] = {"adv": adv.mean(), "per": per.mean(), "l2": l2.mean(), "p_true": true_sr.mean(),
                                "accuracy": (probability.argmax(1) == target).float().mean()}
        if o.reweight:
            weight = reweighting(true, sigma=o.sigma, r=o.r)  # Eq. (11)
            logs["weight"] = weight.mean()
            return (weight * per_face).mean(), logs
        return per_face.mean(), logs

    def g_step(self, batch: dict[str, Any]):
        return self.generator_loss(batch)

    def d_step(self, batch: dict[str, Any]):
        o = self.opts
        f_hr, f_lr = self.features(batch)
        with torch.no_grad():
            f_sr = self.nets["g"](f_lr).float()
        real, fake = self.nets["d"](f_hr).float(), self.nets["d"](f_sr).float()
        penalty = wgan_div_penalty(self.nets["d"], f_hr, f_sr, k=o.k, p=o.p)
        # Eq. (8): L(D) = E[D(F_hr)] - E[D(F_sr)] + k E[||grad D(x^)||^p]
        loss = real.mean() - fake.mean() + penalty
        return loss, {"real": real.mean(), "fake": fake.mean(), "penalty": penalty}

    # --- evaluation ----------------------------------------------------------------------------------------------
    def _table(self, batches) -> dict[str, dict[str, float]]:
        return recognition_accuracy(self.nets["backbone"], self.nets["g"], batches, factors=self.opts.factors)

    def evaluate(self, loader) -> dict[str, float]:
        """``accuracy_<column>`` of FSR-FER and ``accuracy_bicubic_<column>`` of the backbone (columns ``hr``,
        ``x<f>``, ``avg``)."""
        return _flat(self._table(loader))

    def test_metrics(self) -> dict[str, dict[str, float]]:
        """:func:`recognition_accuracy` of the test split: ``{"bicubic": {...}, "FSR-FER": {...}}``."""
        return self._table(_device_batches(self, self._faces("test", self.opts.test_length, train=False)))

    def export(self) -> FSRFER:
        return FSRFER.from_parts(self.nets["backbone"], self.nets["g"])

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        o, backbone = self.opts, self.nets["backbone"].config
        data_id, data_text = dataset_card_name(self)
        size, d = backbone.image_size, backbone.feature_size
        variant = "with re-weighting" if o.reweight else "w/o re-weighting"
        rows = [{"name": f"accuracy ({column})", "type": "accuracy", "value": round(value, 4),
                 "dataset_name": data_id, "dataset_type": data_id, "dataset_split": "test"}
                for column, value in test["FSR-FER"].items()]
        terms = [f"{w:g} {name}" for w, name in ((o.lambda_adv, "L_gan"), (o.lambda_per, "L_p"), (o.lambda_l2, "L_2"))
                 if w > 0]
        factors = ", ".join(f"x{f}" for f in o.factors)
        training = {
            "data": (f"{data_text}; {size}x{size} faces with horizontal flips, each with one factor of {factors} "
                     f"drawn per face: MATLAB-bicubic down (8-bit) and bicubic back up to {size}x{size}"),
            "backbone": f"{o.backbone} (CovPoolFER, frozen): F + SPD gives the {d}x{d} features, C the perceptual "
                        f"loss and, with the final layer, the classification",
            "objective": (f"Eq. (10): {' + '.join(terms)}" + (f", each face's weighted by Eq. (11) (sigma - p)^r, "
                                                              f"sigma {o.sigma:g}, r {o.r:g}, p on F_{o.reweight_on}"
                                                              if o.reweight else "")),
            "discriminator": (f"ESRGAN's without batch norm ({o.d_channels} channels, {o.d_stages} stages), "
                              f"WGAN-div k {o.k:g}, p {o.p:g}, one update every {o.d_every} iteration(s)"),
            "optimiser": (f"Adam betas {o.betas}, lr {o.lr:g} (G) / {o.lr_d:g} (D) times {o.lr_gamma:g} at "
                          f"{', '.join(map(str, o.milestones))}"),
        }
        cfg = o.net
        return {
            "title": f"faceforge FSR-FER ({variant})",
            "summary": (f"Expression recognition of low-resolution faces ({factors} of {size}x{size}) by feature "
                        f"super-resolution: a generator of {cfg.blocks} RRDBs maps CovPoolFER's second-order "
                        f"features of the LR face to those of the HR face, and CovPoolFER's classifier reads them "
                        f"(Jing et al., arXiv:2004.02234, 2020; one model for every factor)."),
            "pipeline_tag": "image-classification",
            "datasets": [data_id],
            "metrics": rows,
            "training": training,
            "tags": ["facial-expression-recognition", "feature-super-resolution", "low-resolution", "gan"],
            "sections": {"Accuracy on the test split, %": (
                "Table 1's layout. bicubic: the backbone on the LR faces brought back up by bicubic interpolation; "
                "FSR-FER: its classifier on G's features of the same inputs; HR: the faces as they are; avg: the mean "
                "over the factors.\n\n" + _markdown(test, {"bicubic": "bicubic (the backbone alone)",
                                                         "FSR-FER": "FSR-FER (this model)"}))},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")\n"
                      "faces = torch.rand(4, 3, 25, 25)  # aligned LR faces in [0, 1], any side\n"
                      f"probabilities = model.recognize(faces)  # bicubic to {size}x{size}, then C(G(F))"),
        }


# --- the image super-resolution route of Table 1 ----------------------------------------------------------------------
def isr_net_config() -> VDSRConfig:
    """VDSR at the backbone's side with scale 1: its input is the LR face already brought back up by bicubic
    interpolation, whatever the factor (a one-for-all model, as Meta-SR is in the paper's Table 1)."""
    return VDSRConfig(image_size=100, scale=1, depth=8, channels=32)


@dataclass
class ISROptions:
    """Options of the ``fsrfer_isr`` task."""

    net: VDSRConfig = field(default_factory=isr_net_config)  # image_size must be the backbone's side, scale 1
    backbone: str = "covpoolfer"  # the CovPoolFER whose accuracy on the restored faces is reported
    factors: tuple[int, ...] = FACTORS
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: float = 0.02
    train_length: int = 24000
    eval_length: int = 500
    test_length: int | None = 2000
    eval_split: str = "val"

    def __post_init__(self) -> None:
        _check_factors(self.factors)
        if self.net.scale != 1:
            raise ValueError(f"options.net.scale must be 1 (the input is bicubic-upsampled already), got "
                             f"{self.net.scale}")


class ISRTask(_LowResolutionTask):
    """The image super-resolution route FSR-FER is compared with (Table 1's Meta-SR / RCAN rows): an SR network
    trained on the same faces and factors as FSR-FER with the mean squared error of the restored face, one model
    for every factor; the frozen backbone then recognises its output.

    The network is VDSR (Kim et al., CVPR 2016; :class:`~faceforge.models.sr_baselines.VDSR`) with scale 1 on the
    bicubic-upsampled LR face: residual learning over bicubic, so it starts at bicubic and can only improve on it
    in the MSE it is trained on. Adam with a warm-up and cosine decay, as the other SR baselines."""

    Options = ISROptions
    opts: ISROptions

    def backbone(self) -> CovPoolFER:
        if not hasattr(self, "_backbone"):
            self._backbone = load_backbone(self.opts.backbone)
            if self._backbone.config.image_size != self.opts.net.image_size:
                raise ConfigError(f"options.net.image_size is {self.opts.net.image_size} but the backbone takes "
                                  f"{self._backbone.config.image_size}x{self._backbone.config.image_size} faces")
        return self._backbone

    def train_dataset(self) -> Dataset:
        self.backbone()  # fail before any training on a backbone that cannot judge the output
        return super().train_dataset()

    def build_networks(self) -> dict[str, torch.nn.Module]:
        return {"net": VDSR(self.opts.net)}

    def step(self, batch: dict[str, Any]):
        sr = self.nets["net"](batch["lr"])["sr"].float()
        loss = F.mse_loss(sr, batch["image"].float())
        return loss, {"psnr": -10 * torch.log10(loss.detach().clamp_min(1e-10))}

    def _table(self, batches) -> dict[str, dict[str, float]]:
        backbone = self.backbone().to(self.device)
        return recognition_accuracy(backbone, None, batches, factors=self.opts.factors, restorer=self.nets["net"])

    def evaluate(self, loader) -> dict[str, float]:
        """``accuracy_<column>`` of the backbone on the restored faces and ``accuracy_bicubic_<column>``."""
        return _flat(self._table(loader))

    def test_metrics(self) -> dict[str, dict[str, float]]:
        """``{"bicubic": {...}, "ISR": {...}}`` on the test split."""
        return self._table(_device_batches(self, self._faces("test", self.opts.test_length, train=False)))

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        o, cfg = self.opts, self.opts.net
        data_id, data_text = dataset_card_name(self)
        factors = ", ".join(f"x{f}" for f in o.factors)
        return {
            "title": "faceforge ISR route of FSR-FER's Table 1 (VDSR, one model for x2-x8)",
            "summary": (f"Image super-resolution of {factors} low-resolution {cfg.image_size}x{cfg.image_size} "
                        f"faces brought back up by bicubic interpolation: VDSR ({cfg.depth} layers of "
                        f"{cfg.channels} filters, residual over bicubic), one model for every factor, trained on "
                        f"FSR-FER's faces. The baseline route of FSR-FER's Table 1: the frozen {o.backbone} "
                        f"recognises its output."),
            "pipeline_tag": "image-to-image",
            "datasets": [data_id],
            "metrics": [{"name": f"{o.backbone} accuracy on the restored faces ({column})", "type": "accuracy",
                         "value": round(value, 4), "dataset_name": data_id, "dataset_type": data_id,
                         "dataset_split": "test"} for column, value in test["ISR"].items()],
            "training": {"data": f"{data_text}; {cfg.image_size}x{cfg.image_size} faces with horizontal flips, each "
                                 f"with one factor of {factors} drawn per face",
                         "objective": "mean squared error of the restored face",
                         "optimiser": f"AdamW lr {o.lr:g}, weight decay {o.weight_decay:g}, warm-up {o.warmup:g} "
                                      f"and cosine decay"},
            "tags": ["super-resolution", "vdsr", "facial-expression-recognition"],
            "sections": {"Accuracy on the test split, %": (
                f"The frozen {o.backbone} on the faces as bicubic interpolation and as this network restore them.\n\n"
                + _markdown(test, {"bicubic": "bicubic", "ISR": "VDSR (this model), then the backbone"}))},
            "usage": ("import faceforge, torch\n"
                      "net = faceforge.from_pretrained(\"path/to/this/folder\")\n"
                      f"faces = torch.rand(4, 3, {cfg.image_size}, {cfg.image_size})  # LR faces bicubic-upsampled\n"
                      "restored = net.restore(faces)"),
        }

