"""Training tasks of MPENet and MPEGAN (``faceforge.models.mpenet``; Zhang and Liu, "Face Super-Resolution
with Progressive Embedding of Multi-scale Face Priors", IJCB 2022, Sec. 3.2 and 4.2).

Data (Sec. 4.2): aligned faces with a border (144x144 for 128x128 crops: FaceForge-Synth rendered with
``margin=8``, or a real set prepared with a margin), a random 128x128 crop and a random horizontal flip for
training, the centre crop for evaluation; the 16x16 input is the MATLAB-bicubic x8 downsampling of the crop,
rounded to 8 bits. Landmarks follow the crop and the flip.

Losses, Eq. (13):

    L = L_rec + lambda_align L_align + lambda_au L_au + lambda_per L_per + lambda_adv L_adv_G

* Eq. (9)  L_rec: mean squared error of every step's output, averaged over the steps;
* Eq. (5)  L_align: mean squared error between the predicted and the ground-truth heatmaps (Gaussians of
  ``heatmap_sigma`` heatmap pixels at the ground-truth landmarks), averaged over the hourglasses
  (intermediate supervision);
* Eq. (6)-(8) L_au: weighted cross-entropy + weighted Dice of the AU branch on I_SR^2, weights from the AU
  occurrence rates of the training set;
* Eq. (10) L_per: squared distance of the deepest features of a frozen face network between I_SR^3 and I_HR
  (the paper's VGG-Face relu5_3; here faceforge's expression classifier, last stage);
* Eq. (11)-(12) L_adv: the non-saturating GAN loss against SRGAN's discriminator.

Eq. (9), (5) and (10) are squared norms over a face's pixels, heatmaps and features, and Eq. (6)-(7) sums over
AUs; ``loss_norm="paper"`` (the default) keeps those relative sizes and divides Eq. (13) by the pixel count,
so the lambdas weigh the terms as the paper writes them (see :meth:`MPENetTask.term_scales`; ``"mean"`` makes
every term a per-element mean instead).

``mpenet`` trains with lambda_per = lambda_adv = 0 (lambda_align 0.1, lambda_au 0.01); ``mpegan`` starts from
a trained MPENet folder (``options.init``) and adds lambda_per = 0.1, lambda_adv = 0.001. Adam (0.9, 0.999,
1e-8) at 1e-4 for both. Run with ``train/configs/mpenet.yaml`` and ``train/configs/mpegan.yaml``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from faceforge.data.degrade import to_low_resolution
from faceforge.face.aus import FACEFORGE_AUS, au_index
from faceforge.face.landmarks import flip_landmarks
from faceforge.losses import au_class_weights, au_loss
from faceforge.models.mpenet import (
    ABLATIONS,
    MPEGANDiscriminator,
    MPEGANDiscriminatorConfig,
    MPENet,
    MPENetConfig,
)
from faceforge.nn.heatmaps import landmark_heatmaps
from faceforge.training.config import ConfigError
from faceforge.training.task import Step, Task
from faceforge.training.tasks.faces import dataset_card_name, face_split, warmup_cosine

logger = logging.getLogger("faceforge.training")

SHIPPED_AU_DETECTOR = "au-detector"
Variant = Literal["baseline", "landmarks", "landmarks_aus", "full"]
SWITCHES = ("use_landmarks", "use_aus", "au_attention")


class SuperResolutionFaces(Dataset):
    """Aligned faces with a border -> HR crops, their LR inputs and labels.

    Args:
        faces: a dataset of samples with ``image`` (3, S, S) in [0, 1], ``landmarks`` (68, 2) pixels and
            ``au_occurrence`` (n_aus,) (optionally ``au_mask``), S >= ``size``.
        size: side of the HR crop (128).
        scale: downsampling factor of the LR input (8: 16x16).
        train: random crop and random horizontal flip; otherwise the centre crop.

    Samples: ``image`` (3, size, size), ``lr`` (3, size / scale, size / scale) (MATLAB bicubic, 8-bit),
    ``landmarks`` (68, 2) in the crop's pixels, ``au_occurrence`` and ``au_mask`` (n_aus,) floats (the mask is
    1 where the label is known).
    """

    def __init__(self, faces: Dataset, *, size: int, scale: int, train: bool):
        self.faces, self.size, self.scale, self.train = faces, size, scale, train
        self.aus = tuple(getattr(faces, "aus", FACEFORGE_AUS))

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.faces[index]
        image = torch.as_tensor(sample["image"]).float()
        landmarks = torch.as_tensor(sample["landmarks"]).float()
        side = image.shape[-1]
        if image.shape[-2] != side or side < self.size:
            raise ValueError(f"faces must be square and at least {self.size} pixels, got {tuple(image.shape)}")
        margin = side - self.size
        if self.train:
            if torch.rand(()) < 0.5:  # horizontal flip (randomness from torch: seeded per sample by the loop)
                image = image.flip(-1)
                landmarks = torch.from_numpy(flip_landmarks(landmarks.numpy(), side)).float()
            top, left = (int(v) for v in torch.randint(0, margin + 1, (2,)))
        else:
            top = left = margin // 2
        crop = image[:, top:top + self.size, left:left + self.size].contiguous()
        occurrence = torch.as_tensor(sample["au_occurrence"]).float()
        mask = torch.as_tensor(sample["au_mask"]).float() if "au_mask" in sample else torch.ones_like(occurrence)
        return {
            "image": crop,
            # "we obtain 16x16 LR inputs by bicubic downsampling" (MATLAB's kernel, stored as 8-bit images)
            "lr": to_low_resolution(crop, self.size // self.scale, quantize=True),
            "landmarks": landmarks - torch.tensor([left, top], dtype=torch.float32),
            "au_occurrence": torch.nan_to_num(occurrence),
            "au_mask": mask * torch.isfinite(occurrence),
        }


def occurrence_rates(faces: Dataset) -> torch.Tensor:
    """(n_aus,) AU occurrence rates of a face dataset, over the samples where each label is known."""
    labels = getattr(faces, "labels", None)
    if isinstance(labels, dict) and "au_occurrence" in labels:
        y = torch.as_tensor(np.asarray(labels["au_occurrence"])).float()
        known = torch.as_tensor(np.asarray(labels["au_mask"])).float() if "au_mask" in labels else None
    else:  # a dataset without a label table: read every sample once
        samples = [faces[i] for i in range(len(faces))]
        y = torch.stack([torch.as_tensor(s["au_occurrence"]).float() for s in samples])
        known = (torch.stack([torch.as_tensor(s["au_mask"]).float() for s in samples])
                 if "au_mask" in samples[0] else None)
    known = torch.isfinite(y).float() if known is None else known * torch.isfinite(y)
    return (torch.nan_to_num(y) * known).sum(0) / known.sum(0).clamp(min=1)


@dataclass
class MPENetOptions:
    """Options of the ``mpenet`` task (paper defaults)."""

    # the network (``options.net.channels=32``); its AU list comes from the data, and with ``au_init`` its AU
    # branch's backbone and sizes from that detector
    net: MPENetConfig = field(default_factory=MPENetConfig)
    # the Table 4 row: sets net.use_landmarks, net.use_aus and net.au_attention (ABLATIONS)
    variant: Variant = "full"
    # AU branch initialisation: a trained AU detector (shipped name, folder or Hub id; its backbone, input size
    # and AU list then set the branch's); "" trains the branch from scratch. The shipped detector is used when
    # it can be loaded and skipped (from scratch, with a warning) when it cannot; any other name must load.
    au_init: str = SHIPPED_AU_DETECTOR
    # alignment branch initialisation: a trained FaceAlignment (``face_alignment`` task) folder or Hub id whose
    # sizes match the branch's; "" trains the branch from scratch with the network, as the paper does
    align_init: str = ""
    # data
    crop_margin: int = 8  # training faces are (image_size + 2 margin) squares: 144 for random 128 crops
    train_length: int = 24000  # synthetic training faces
    eval_length: int = 500
    test_length: int | None = 2000  # test faces the model card reports on (None: the whole split)
    eval_split: str = "val"
    # losses, Eq. (13)
    rec_loss: str = "l2"  # Eq. (9) squared error; "l1" for an absolute error
    # How the terms are normalised against each other before the lambdas weigh them (see ``MPENetTask.term_scales``):
    # "paper": as Eq. (5)-(10) write them (squared norms over each face's pixels, heatmaps and features, sums
    # over AUs), all divided by the face's pixel count; "mean": every term a per-element mean.
    loss_norm: str = "paper"
    lambda_align: float = 0.1
    lambda_au: float = 0.01
    # Adam, as Sec. 4.2
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    # learning-rate schedule: "constant" (the paper) or "cosine" (linear warm-up over ``warmup`` of the run, then
    # cosine decay to zero: for short runs, such as the CPU-scale ones)
    schedule: str = "constant"
    warmup: float = 0.02
    # evaluation: AU F1 / accuracy of the restored faces by a separately trained detector (Table 2); "" = off
    au_evaluator: str = ""

    def __post_init__(self) -> None:
        if self.variant not in ABLATIONS:
            raise ValueError(f"variant must be one of {', '.join(ABLATIONS)}, got {self.variant!r}")
        chosen = dict(zip(SWITCHES, ABLATIONS[self.variant], strict=True))
        default = dict(zip(SWITCHES, ABLATIONS["full"], strict=True))
        conflicts = [k for k in SWITCHES if getattr(self.net, k) not in (chosen[k], default[k])]
        if conflicts:
            raise ValueError(f"net.{conflicts[0]} conflicts with variant {self.variant!r}; choose the branches "
                             f"with variant ({', '.join(ABLATIONS)})")
        if any(getattr(self.net, k) != v for k, v in chosen.items()):
            self.net = dataclasses.replace(self.net, **chosen)
        if self.rec_loss not in ("l1", "l2"):
            raise ValueError(f"rec_loss must be 'l1' or 'l2', got {self.rec_loss!r}")
        if self.loss_norm not in ("paper", "mean"):
            raise ValueError(f"loss_norm must be 'paper' or 'mean', got {self.loss_norm!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.crop_margin < 0:
            raise ValueError(f"crop_margin must be >= 0, got {self.crop_margin}")
        if min(self.lambda_align, self.lambda_au) < 0:
            raise ValueError("loss weights must be >= 0")


def super_resolution_split(task: Task, split: str, length: int | None, *, train: bool) -> SuperResolutionFaces:
    """A split of the run's faces as super-resolution samples (``task.opts`` has ``net.image_size``, ``net.scale``
    and ``crop_margin``): bordered faces cropped to the HR size, with their LR inputs."""
    o = task.opts
    faces = face_split(task, split, length=length, size=o.net.image_size, margin=o.crop_margin)
    return SuperResolutionFaces(faces, size=o.net.image_size, scale=o.net.scale, train=train)


class MPENetTask(Task):
    """MPENet (PSNR-oriented): Eq. (13) with lambda_per = lambda_adv = 0; an EMA of the generator is exported."""

    Options = MPENetOptions
    opts: MPENetOptions
    ema = ("g",)

    # --- data ----------------------------------------------------------------------------------------------------
    def _faces(self, split: str, length: int | None, *, train: bool) -> SuperResolutionFaces:
        return super_resolution_split(self, split, length, train=train)

    def train_dataset(self) -> Dataset:
        self.train_set = self._faces("train", self.opts.train_length, train=True)
        self.data_aus = self.train_set.aus
        self.occurrence_rates = occurrence_rates(self.train_set.faces)
        self.au_weights = au_class_weights(self.occurrence_rates)
        return self.train_set

    def eval_dataset(self) -> Dataset:
        return self._faces(self.opts.eval_split, self.opts.eval_length, train=False)

    # --- networks ------------------------------------------------------------------------------------------------
    def _au_detector(self):
        """The trained AU detector that initialises the AU branch, or None (from scratch)."""
        import faceforge
        from faceforge.modeling import ModelLoadError
        from faceforge.models.au_detector import AUDetector

        name = self.opts.au_init
        if not name or not ABLATIONS[self.opts.variant][1]:
            return None
        try:
            detector = faceforge.from_pretrained(name)
        except ModelLoadError as err:
            if name != SHIPPED_AU_DETECTOR:
                raise ConfigError(f"options.au_init={name!r} cannot be loaded: {err}") from err
            logger.warning("the shipped AU detector is not available (%s); the AU branch trains from scratch", err)
            return None
        if not isinstance(detector, AUDetector):
            raise ConfigError(f"options.au_init={name!r} holds a {type(detector).__name__}, not an AUDetector")
        return detector

    def generator_config(self, detector=None) -> MPENetConfig:
        """The MPENetConfig of the options (the AU branch's fields from ``detector`` when given)."""
        fields: dict[str, Any] = {"aus": tuple(getattr(self, "data_aus", FACEFORGE_AUS))}
        if detector is not None:
            d = detector.config
            fields.update(aus=d.aus, au_backbone=d.backbone, au_image_size=d.image_size, au_drop_rate=d.drop_rate)
        try:
            return dataclasses.replace(self.opts.net, **fields)
        except ValueError as err:
            raise ConfigError(f"options describe no valid MPENet: {err}") from err

    def build_generator(self) -> MPENet:
        detector = self._au_detector()
        generator = MPENet(self.generator_config(detector))
        self.au_init_source = ""
        if detector is not None and generator.au_branch is not None:
            generator.au_branch.load_state_dict(detector.state_dict())
            self.au_init_source = self.opts.au_init
        self.align_init_source = ""
        if self.opts.align_init and generator.align is not None:
            self._load_alignment(generator)
            self.align_init_source = self.opts.align_init
        return generator

    def _load_alignment(self, generator: MPENet) -> None:
        """Copy a trained FaceAlignment network into the generator's alignment branch."""
        import faceforge
        from faceforge.modeling import ModelLoadError
        from faceforge.models.face_alignment import FaceAlignment

        name = self.opts.align_init
        try:
            aligner = faceforge.from_pretrained(name)
        except ModelLoadError as err:
            raise ConfigError(f"options.align_init={name!r} cannot be loaded: {err}") from err
        if not isinstance(aligner, FaceAlignment):
            raise ConfigError(f"options.align_init={name!r} holds a {type(aligner).__name__}, not a FaceAlignment")
        a, g = aligner.config, generator.config
        ours = (g.align_channels, g.n_landmarks, g.align_stacks, g.hourglass_depth, g.image_size, g.feature_size)
        theirs = (a.channels, a.points, a.stacks, a.depth, a.image_size, a.heatmap_size)
        if ours != theirs:
            raise ConfigError(f"options.align_init={name!r} has (channels, points, stacks, depth, image, heatmap) "
                              f"sizes {theirs}; the alignment branch has {ours}")
        generator.align.load_state_dict(aligner.branch.state_dict())

    def _bind(self, generator: MPENet) -> None:
        """Remember the generator's config and which of its AU outputs the data labels."""
        self.g_config = generator.config
        self.au_columns: list[int] | None = None
        if generator.config.use_aus:
            try:
                self.au_columns = list(au_index(generator.config.aus, self.data_aus))
            except ValueError as err:
                raise ConfigError(f"the AU branch does not predict every AU of the data: {err}") from err

    def build_networks(self) -> dict[str, torch.nn.Module]:
        generator = self.build_generator()
        self._bind(generator)
        return {"g": generator}

    def _adam(self, name: str, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(self.nets[name].parameters(), lr=lr, betas=self.opts.betas, eps=self.opts.eps)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self._adam("g", self.opts.lr)}

    def build_schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        if self.opts.schedule == "constant":
            return {}
        return {name: warmup_cosine(optimizer, self.total_steps, self.opts.warmup)
                for name, optimizer in self.optimizers.items()}

    def steps(self) -> list[Step]:
        return [Step("g", self.g_step)]

    # --- losses --------------------------------------------------------------------------------------------------
    def term_scales(self, hr: torch.Tensor, heatmaps: torch.Tensor | None = None) -> dict[str, float]:
        """Factors that turn the per-element means of the loss terms into the form ``loss_norm`` asks for.

        "paper": Eq. (9), (5) and (10) are squared norms over a face's pixels, heatmaps and features and
        Eq. (6)-(7) sums over AUs, so a mean of heatmap (feature) elements is worth its element count and the
        per-AU mean its AU count; dividing the whole of Eq. (13) by the face's pixel count keeps the gradients
        at the scale of a per-pixel MSE (Adam does not see the constant) and the paper's lambdas weigh the
        terms as written: the AU term (lambda_au 0.01) then reaches the SR branch with a gradient under 1/500 of
        the reconstruction's. "mean": every factor 1 (each term a per-element mean, the convention of most SR
        code); the AU term's gradient into the SR branch is then 4-5 times the reconstruction's (measured on a
        trained MPENet), it pulls I_SR^2 towards what the AU detector responds to, and a CPU-scale MPENet run
        so trained ended 1.2 dB PSNR below the same run of the baseline without priors.
        """
        if self.opts.loss_norm == "mean":
            return {"align": 1.0, "au": 1.0, "per": 1.0, "adv": 1.0}
        pixels = hr[0].numel()
        return {"align": (heatmaps[0].numel() if heatmaps is not None else 0) / pixels,  # variants without
                "au": len(self.au_columns or ()) / pixels, "per": 1.0 / pixels, "adv": 1.0}  # a branch: unused

    def restoration_loss(self, batch: dict[str, torch.Tensor], out) -> tuple[torch.Tensor, dict[str, Any]]:
        """L_rec + lambda_align L_align + lambda_au L_au (Eq. 13 without the GAN terms) and its logs.

        The logged terms are per-element means (per-AU for ``au``); :meth:`term_scales` weighs them.
        """
        o, cfg, hr = self.opts, self.g_config, batch["image"]
        distance = F.mse_loss if o.rec_loss == "l2" else F.l1_loss
        scales = self.term_scales(hr, out["heatmaps"])
        # Eq. (9): L_rec = E[1/N sum_n ||I_HR - I_SR^n||^2]
        rec = torch.stack([distance(sr.float(), hr) for sr in out["steps"]]).mean()
        loss, logs = rec, {"rec": rec, "rec_last": distance(out["sr"].float(), hr)}
        if out["heatmap_stacks"] is not None:
            target = landmark_heatmaps(batch["landmarks"], size=out["heatmaps"].shape[-2:],
                                       image_size=cfg.image_size, sigma=cfg.heatmap_sigma)
            # Eq. (5): L_align = E[||H_align(I_SR^1) - L_gt||^2], on every hourglass's heatmaps
            align = torch.stack([F.mse_loss(h.float(), target) for h in out["heatmap_stacks"]]).mean()
            loss = loss + o.lambda_align * scales["align"] * align
            logs["align"] = align
            logs["landmark_px"] = (out["landmarks"] - batch["landmarks"]).norm(dim=-1).mean()
        if out["au_logits"] is not None:
            logits = out["au_logits"].float()[:, self.au_columns]
            # Eq. (6)-(8): L_au = L_cross + L_dice with w_i from the training set's occurrence rates
            au = au_loss(logits, batch["au_occurrence"], self.au_weights.to(logits.device), batch["au_mask"])
            loss = loss + o.lambda_au * scales["au"] * au
            logs["au"] = au
        return loss, logs

    def g_step(self, batch: dict[str, torch.Tensor]):
        return self.restoration_loss(batch, self.nets["g"](batch["lr"]))

    # --- evaluation ----------------------------------------------------------------------------------------------
    def _evaluator(self):
        if not self.opts.au_evaluator:
            return None
        if not hasattr(self, "_au_evaluator"):
            import faceforge

            self._au_evaluator = faceforge.from_pretrained(self.opts.au_evaluator).to(self.device).eval()
        return self._au_evaluator

    def evaluate(self, loader) -> dict[str, float]:
        """PSNR / SSIM on Y of every step (Table 3) and of bicubic upsampling, landmark error of the alignment
        branch in HR pixels, and with ``au_evaluator`` the AU F1 / accuracy of the restored faces (Table 2):
        :class:`faceforge.evaluation.SuperResolutionScores`, as ``faceforge eval`` measures them."""
        from faceforge.evaluation import SuperResolutionScores

        cfg = self.g_config
        scores = SuperResolutionScores(steps=cfg.steps, image_size=cfg.image_size, evaluator=self._evaluator(),
                                       au_rows="output")
        for batch in loader:
            scores.add(batch["image"], batch["lr"], self.nets["g"](batch["lr"]), landmarks=batch["landmarks"],
                       au_occurrence=batch["au_occurrence"], au_mask=batch["au_mask"])
        return scores.metrics(self.data_aus)

    def sample(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row: the LR input (nearest upsampling) | I_SR^1 | ... | I_SR^T | the HR face."""
        out = self.nets["g"](batch["lr"])
        lr = F.interpolate(batch["lr"], scale_factor=self.g_config.scale, mode="nearest")
        return torch.cat([lr, *(sr.float().clamp(0, 1) for sr in out["steps"]), batch["image"]], dim=-1)

    def export(self) -> MPENet:
        return self.nets["g"]

    # --- model card ----------------------------------------------------------------------------------------------
    def test_metrics(self) -> dict[str, float]:
        """``evaluate`` on the test split (centre crops), the figures the card reports."""
        test = self._faces("test", self.opts.test_length, train=False)
        loader = DataLoader(test, batch_size=self.run.eval_batch_size or self.run.batch_size, num_workers=0)
        batches = ({k: v.to(self.device) for k, v in b.items()} for b in loader)
        return self.evaluate(batches)

    def _extra_training_rows(self) -> dict[str, str]:
        return {}

    def _title(self) -> str:
        return "faceforge MPENet" if self.opts.variant == "full" else f"faceforge MPENet ({self.opts.variant})"

    def _summary(self) -> str:
        cfg = self.g_config
        lr = cfg.lr_size
        return (f"x{cfg.scale} face super-resolution ({lr}x{lr} -> {cfg.image_size}x{cfg.image_size}, aligned faces) "
                f"with a {cfg.steps}-step recurrent network that embeds facial landmarks and action units "
                f"progressively (MPENet, Zhang and Liu; variant '{cfg.variant}').")

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        cfg = self.g_config
        data_id, data_text = dataset_card_name(self)
        rows = [{"name": f"{kind.upper()} (Y) step {t}", "type": kind, "value": round(test[f"{kind}_step{t}"], 4),
                 "dataset_name": data_id, "dataset_type": data_id, "dataset_split": "test"}
                for t in range(1, cfg.steps + 1) for kind in ("psnr", "ssim")]
        lines = ["| output | PSNR-Y (dB) | SSIM-Y |", "|---|---|---|",
                 f"| bicubic | {test['psnr_bicubic']:.2f} | {test['ssim_bicubic']:.4f} |"]
        lines += [f"| step {t} | {test[f'psnr_step{t}']:.2f} | {test[f'ssim_step{t}']:.4f} |"
                  for t in range(1, cfg.steps + 1)]
        if "landmark_px" in test:
            lines.append(f"\nMean landmark error of the alignment branch on step 1: {test['landmark_px']:.2f} px.")
        bordered = cfg.image_size + 2 * self.opts.crop_margin
        training = {"data": f"{data_text}; random {cfg.image_size} crops of {bordered}"
                            f" faces with horizontal flips, MATLAB-bicubic x{cfg.scale} inputs"}
        faces = self.total_steps * self.run.batch_size * self.run.grad_accum * self.num_processes
        training["schedule"] = (f"{self.total_steps} iterations, {faces} faces = {faces / len(self.train_set):.2f} "
                                f"epochs of the {len(self.train_set)} training faces (the paper: 2 epochs); Adam "
                                f"lr {self.opts.lr:g}, {self.opts.schedule} schedule")
        if cfg.use_landmarks:
            source = getattr(self, "align_init_source", "")
            training["alignment branch"] = (f"initialised from {source}" if source
                                            else "trained from scratch with the network")
        if cfg.use_aus:
            training["AU branch"] = (f"initialised from {self.au_init_source}" if getattr(self, "au_init_source", "")
                                     else "trained from scratch with the network")
        if self.opts.au_evaluator:
            training["AU evaluation"] = (f"AU F1 / accuracy of the restored faces measured by "
                                         f"{self.opts.au_evaluator}, "
                                         f"a separately trained detector (not the AU branch's supervisor)")
        training.update(self._extra_training_rows())
        lr = cfg.lr_size
        return {
            "title": self._title(),
            "summary": self._summary(),
            "pipeline_tag": "image-to-image",
            "datasets": [data_id],
            "metrics": rows,
            "training": training,
            "tags": ["face-super-resolution", "super-resolution", "action-units"],
            "sections": {"Results on the test split (centre crops)": "\n".join(lines)},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")  # or a Hub id\n"
                      f"lr = torch.rand(1, 3, {lr}, {lr})  # aligned faces, bicubic x{cfg.scale} downsampled\n"
                      "out = model(lr)  # out['sr']: the restored face; out['steps'], out['landmarks'], ...\n"
                      f"face = model.restore(lr)  # (1, 3, {cfg.image_size}, {cfg.image_size}) in [0, 1]"),
        }


@dataclass
class MPEGANOptions(MPENetOptions):
    """Options of the ``mpegan`` task: MPENet's, plus the GAN's. The network is the one in ``init``."""

    init: str = ""  # the trained MPENet folder (or Hub id) the generator starts from (required)
    lambda_per: float = 0.1
    lambda_adv: float = 0.001
    perceptual_model: str = "expression-classifier"  # trained ExpressionClassifier: name, folder or Hub id
    perceptual_layers: tuple[int, ...] = (4,)  # its last stage, as the paper takes VGG-Face's relu5_3
    lr_d: float = 1e-4
    d_channels: int = 64
    d_every: int = 1  # one discriminator update every d_every iterations

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.lambda_per, self.lambda_adv) < 0:
            raise ValueError("loss weights must be >= 0")
        if self.d_every < 1:
            raise ValueError(f"d_every must be >= 1, got {self.d_every}")


class MPEGANTask(MPENetTask):
    """MPEGAN (perceptual): Eq. (13) in full, the generator initialised from a trained MPENet."""

    Options = MPEGANOptions
    opts: MPEGANOptions

    def build_networks(self) -> dict[str, torch.nn.Module]:
        from faceforge.losses import PerceptualLoss
        from faceforge.modeling import ModelLoadError

        o = self.opts
        if not o.init:
            raise ConfigError("mpegan starts from a trained MPENet: set options.init to its folder")
        try:
            # "we use the parameters of pretrained MPENet as initialization"
            generator = MPENet.from_pretrained(o.init).train()
        except ModelLoadError as err:
            raise ConfigError(f"options.init={o.init!r} is not an MPENet folder: {err}") from err
        self._bind(generator)
        self.au_init_source = f"the MPENet of {o.init}"
        self.align_init_source = f"the MPENet of {o.init}"
        discriminator = MPEGANDiscriminator(MPEGANDiscriminatorConfig(image_size=generator.config.image_size,
                                                                      channels=o.d_channels))
        perceptual = PerceptualLoss.from_expression_classifier(o.perceptual_model, layers=o.perceptual_layers,
                                                               criterion="l2")
        return {"g": generator, "d": discriminator, "perceptual": perceptual}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self._adam("g", self.opts.lr), "d": self._adam("d", self.opts.lr_d)}

    def steps(self) -> list[Step]:
        return [Step("d", self.d_step, every=self.opts.d_every), Step("g", self.g_step)]

    def d_step(self, batch: dict[str, torch.Tensor]):
        with torch.no_grad():
            fake = self.nets["g"](batch["lr"])["sr"]
        real_logit, fake_logit = self.nets["d"](batch["image"]).float(), self.nets["d"](fake).float()
        # Eq. (12): L_adv_D = -E[log D(I_HR)] - E[log(1 - D(G(I_LR)))]   (log D = -softplus(-logit))
        loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
        return loss, {"real": real_logit.mean(), "fake": fake_logit.mean()}

    def g_step(self, batch: dict[str, torch.Tensor]):
        o = self.opts
        out = self.nets["g"](batch["lr"])
        loss, logs = self.restoration_loss(batch, out)
        scales = self.term_scales(batch["image"], out["heatmaps"])
        # Eq. (10): L_per = E[||phi(I_HR) - phi(I_SR^3)||^2], summed over the features for loss_norm "paper"
        perceptual = self.nets["perceptual"]
        per = perceptual(out["sr"].float(), batch["image"], reduction="sum" if o.loss_norm == "paper" else "mean")
        # Eq. (11): L_adv_G = -E[log D(G(I_LR))]; lambda_adv 0.001 is SRGAN's weight against a per-pixel MSE
        adv = F.softplus(-self.nets["d"](out["sr"]).float()).mean()
        logs.update(per=per * scales["per"], adv=adv)
        return loss + o.lambda_per * scales["per"] * per + o.lambda_adv * scales["adv"] * adv, logs

    def _extra_training_rows(self) -> dict[str, str]:
        o = self.opts
        return {"perceptual loss": (f"squared distance of stage {', '.join(map(str, o.perceptual_layers))} features of "
                                    f"{o.perceptual_model} (the paper: VGG-Face relu5_3, whose weights cannot be "
                                    f"obtained offline)"),
                "discriminator": f"SRGAN's ({o.d_channels} channels), trained from scratch; Adam lr {o.lr_d:g}"}

    def _title(self) -> str:
        return "faceforge MPEGAN"

    def _summary(self) -> str:
        return super()._summary().replace("(MPENet,", "trained adversarially with a perceptual loss (MPEGAN,")

