"""Training tasks of Cascade EF-GAN (``faceforge.models.efgan``; Wu, Zhang, Lu and Chen, "Cascade EF-GAN: Progressive
Facial Expression Editing with Local Focuses", CVPR 2020, Sec. 3.3 and 4).

Two tasks, the two phases of the paper's training scheme (Sec. 3.3: "we first train a single EF-GAN ... Then, we use
the weights of the well-trained EF-GAN to initialize all following EF-GAN in the cascade and fine-tune all network
parameters end-to-end"):

* ``efgan`` trains one EF-GAN and exports :class:`~faceforge.models.efgan.EFGAN`;
* ``efgan_cascade`` loads that export (``options.init``) into each of the K = 3 stages (``options.stages``), adds the
  AU Interpolator and its critic, fine-tunes everything end to end and exports
  :class:`~faceforge.models.efgan.CascadeEFGAN`.

The rows of Table 3: "Baseline" (GANimation) is ``efgan`` with ``options.net.local=false``; "Baseline + Local Focuses"
(EF-GAN) is ``efgan``; "Baseline + Cascade" is ``efgan_cascade`` with ``options.net.local=false`` initialised from the
baseline; "Cascade EF-GAN" is ``efgan_cascade``.

Data (Sec. 4.1): aligned 128x128 faces, flipped at random, unpaired: each training face is edited to the AUs of
another training face drawn at random (:class:`UnpairedEdits`). AU intensities (FACS 0-5) are divided by 5.

Losses. Eq. (2), per EF-GAN: L = L_adv + lambda_1 L_cond + lambda_2 L_cont + lambda_3 L_attn + lambda_4 L_interp,
"the total loss is the sum of the loss of each EF-GAN with equal weights". The paper leaves each term's form to its
supplementary material, which is not available; they are GANimation's (Pumarola et al., ECCV 2018), with its
weights. Stage k edits I_(k-1) (I_0 the source face, AUs y_0) to I_k with the condition y_k (the Interpolator's
intermediate AUs, the target's for the last stage):

* L_adv, WGAN-GP (Gulrajani et al., NIPS 2017): the critic minimises D(I_k) - D(I_real) + lambda_gp (||grad
  D(x^)|| - 1)^2 (:func:`gradient_penalty`, lambda_gp = 10), the generator -D(I_k); one critic, on the whole face,
  for every stage (the paper names no local discriminator);
* L_cond: the critic's AU head regresses the AUs of real faces, ||D_y(I_real) - y_0||^2 in its loss, and the
  generator's edit must show its condition, ||D_y(I_k) - y_k||^2. Mean squared errors over the batch and the AUs,
  weight lambda_1 = 160: GANimation's 4000 with its code's division of the mean by its batch of 25;
* L_cont, GANimation's cycle: stage k edits its output back to its input's AUs, ||G_k(I_k, y_(k-1)) - I_(k-1)||_1
  (mean), lambda_2 = 10, with I_(k-1) a fixed target: the stage reconstructs its input, and the earlier stages are
  not pulled towards what it reconstructs easily (they receive this term's gradient, as every other's, through I_k);
* L_attn, GANimation's Eq. (3) on the attention map M_A of every branch (global and the three local focuses) of both
  the edit and the cycle: the mean of M_A (sparsity: few repainted pixels; the mean, an L1 norm per pixel, as
  GANimation's released code takes it) plus lambda_TV = 1e-4 times its total variation
  sum_ij (A_(i+1),j - A_ij)^2 + (A_i,(j+1) - A_ij)^2 per face, averaged over the batch (smoothness: the squared
  differences of the paper's Eq. (3), where the released code sums absolute ones with 1e-5), weight lambda_3 = 0.1;
* L_interp (cascade only): the Interpolator's AUs a_k = I(y_0, y~_k - y_0) for the pseudo targets y~_k, k < K, are
  scored by a Wasserstein critic on AU vectors against real ones (the AUs of random training faces), with its own
  gradient penalty, and kept near their pseudo target ("the desired semantic meaning", this implementation's
  reading): -C(a_k) + lambda_pseudo ||a_k - y~_k||_1, lambda_pseudo = 10. The Interpolator is updated by this loss
  alone, with its own optimiser: the stages are conditioned on its output without a gradient, so lambda_4 only
  scales a loss no other parameter sees and is left out.

Optimisation (GANimation's; the paper gives none): Adam lr 1e-4, betas (0.5, 0.999), batch 25, five critic updates per
generator update (``g_every``), constant then decaying linearly to zero over the last third of the run (``decay``).
The critic of the cascade starts anew: the single EF-GAN's export holds the generator alone.

Evaluation: edits of same-identity pairs (a source face and the same person with another expression, FaceForge-Synth
:class:`~faceforge.data.synth.SynthPairs` or a prepared pair set) to the target's AUs, scored against the true target
face by PSNR / SSIM on Y (Table 2's PSNR), and with ``au_evaluator`` (a separately trained AU detector) the AU F1 of
the edit against the target's AU labels and the mean absolute difference of the evaluator's AU probabilities on the
edit and on the true target face (:class:`EditScores`). The unedited source is the trivial baseline row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from faceforge.config import ConfigError
from faceforge.face.aus import FACEFORGE_AUS, OCCURRENCE_THRESHOLD
from faceforge.losses.adversarial import interpolated_gradients
from faceforge.modeling import FaceForgeModel
from faceforge.models.efgan import (
    EFGAN,
    AUCritic,
    AUCriticConfig,
    AUInterpolator,
    AUInterpolatorConfig,
    CascadeEFGAN,
    EFGANConfig,
    EFGANCritic,
    EFGANCriticConfig,
    pseudo_targets,
)
from faceforge.training.task import Step, Task
from faceforge.training.tasks.faces import dataset_card_name, face_split

AU_SCALE = 5.0  # FACS intensities 0-5 -> the 0-1 conditions
# (local focuses, cascade) -> the row of Table 3
PAPER_ROWS: dict[tuple[bool, bool], str] = {(False, False): "Baseline", (True, False): "Baseline + Local Focuses",
                                            (False, True): "Baseline + Cascade", (True, True): "Cascade EF-GAN"}


# --- losses ----------------------------------------------------------------------------------------------------------
def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, *,
                     mix: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty E[(||grad_x D(x^)||_2 - 1)^2], x^ = u real + (1 - u) fake.

    Args:
        critic: (B, ...) -> (B,) scores.
        real, fake: (B, ...) samples (detached from what made them).
        mix: (B,) the u of each sample; default uniform in [0, 1) from torch's RNG.

    Returns:
        0-d tensor, differentiable with respect to the critic's parameters (the gradient is taken with
        ``create_graph``).
    """
    return (interpolated_gradients(critic, real, fake, mix).norm(dim=1) - 1).square().mean()


def attention_sparsity(attention: torch.Tensor) -> torch.Tensor:
    """The mean of an attention map (B, 1, H, W) in [0, 1]: its L1 norm per pixel."""
    return attention.mean()


def attention_smoothness(attention: torch.Tensor) -> torch.Tensor:
    """GANimation's total variation of an attention map (B, 1, H, W): sum_ij (A_(i+1),j - A_ij)^2 +
    (A_i,(j+1) - A_ij)^2, averaged over the batch."""
    rows = (attention[..., 1:, :] - attention[..., :-1, :]).square().flatten(1).sum(1)
    columns = (attention[..., :, 1:] - attention[..., :, :-1]).square().flatten(1).sum(1)
    return (rows + columns).mean()


def linear_decay(optimizer: torch.optim.Optimizer, updates: int, decay: float) -> torch.optim.lr_scheduler.LambdaLR:
    """A constant learning rate, then linear decay to zero over the last ``decay`` of the optimizer's ``updates``
    (GANimation: 20 epochs constant, 10 decaying)."""
    start = updates - round(decay * updates)

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, (updates - step) / max(1, updates - start))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --- data ------------------------------------------------------------------------------------------------------------
class UnpairedEdits(Dataset):
    """Training samples for unpaired editing: a face, its AUs and the AUs of another face of the set, drawn with
    torch's RNG (the loop seeds it per sample).

    Args:
        faces: samples with ``image`` (3, S', S') in [0, 1], S' >= ``size``, and ``au_intensity`` (0-5).
        size: the model's side S; larger faces are centre-cropped to it (faces rendered with a border).

    Samples: ``image`` (3, S, S), ``source_aus`` and ``target_aus`` (n_aus,) in [0, 1].
    """

    def __init__(self, faces: Dataset, size: int):
        if len(faces) < 2:
            raise ValueError("unpaired editing needs at least two faces")
        self.faces, self.size = faces, size
        self.aus = tuple(getattr(faces, "aus", FACEFORGE_AUS))

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        other = int(torch.randint(len(self.faces) - 1, ()))
        other += other >= index  # any face but this one
        sample = self.faces[index]
        return {"image": _fit(torch.as_tensor(sample["image"]).float(), self.size),
                "source_aus": _scaled(sample["au_intensity"]),
                "target_aus": _scaled(self.faces[other]["au_intensity"])}


def _scaled(intensity: Any) -> torch.Tensor:
    return (torch.as_tensor(intensity).float() / AU_SCALE).clamp(0, 1)


def _fit(image: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` crop of a square face (prepared sets may carry a border)."""
    side = image.shape[-1]
    if image.shape[-2] != side or side < size:
        raise ValueError(f"faces must be square and at least {size} pixels, got {tuple(image.shape[-2:])}")
    top = (side - size) // 2
    return image[..., top:top + size, top:top + size]


def pair_sample(sample: dict[str, Any], size: int) -> dict[str, torch.Tensor]:
    """A same-identity pair as the editing evaluation reads it.

    Args:
        sample: ``{"source": face, "target": face}`` (:class:`~faceforge.data.synth.SynthPairs`) or a face with its
            partner's keys prefixed ``target_`` (a prepared pair set, ``build_dataset(..., pairs=True)``); faces
            with ``image`` and ``au_intensity`` (0-5), optionally ``au_occurrence``.
        size: the model's side; larger faces are centre-cropped.

    Returns:
        ``image``, ``target_image`` (3, size, size); ``source_aus``, ``target_aus`` (n_aus,) in [0, 1];
        ``target_occurrence`` (n_aus,) 0/1 (the labels, else intensity >= 2).
    """
    if "source" in sample and "target" in sample:
        source, target = sample["source"], sample["target"]
    elif "target_image" in sample:
        source = sample
        target = {key[len("target_"):]: value for key, value in sample.items() if key.startswith("target_")}
    else:
        raise ValueError("editing is evaluated on pairs of faces: samples {'source', 'target'} or with 'target_' "
                         "keys (build_dataset(..., pairs=True))")
    intensity = torch.as_tensor(target["au_intensity"]).float()
    occurrence = target.get("au_occurrence")
    occurrence = (intensity >= OCCURRENCE_THRESHOLD).float() if occurrence is None else torch.as_tensor(occurrence)
    return {"image": _fit(torch.as_tensor(source["image"]).float(), size),
            "target_image": _fit(torch.as_tensor(target["image"]).float(), size),
            "source_aus": _scaled(source["au_intensity"]), "target_aus": _scaled(intensity),
            "target_occurrence": occurrence.float()}


class EditingPairs(Dataset):
    """A pair dataset as :func:`pair_sample` reads it."""

    def __init__(self, pairs: Dataset, size: int):
        self.pairs, self.size = pairs, size
        self.aus = tuple(getattr(pairs, "aus", FACEFORGE_AUS))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return pair_sample(self.pairs[index], self.size)


def editing_pairs(dataset: Dataset, size: int) -> EditingPairs:
    """Pairs to score edits on: a pair dataset as it is; FaceForge-Synth single faces (``faceforge eval --dataset
    synth``) become :class:`~faceforge.data.synth.SynthPairs` of the same split, length, size and renderer."""
    from faceforge.data.synth import SynthFaces, SynthPairs

    if isinstance(dataset, SynthFaces):
        dataset = SynthPairs(dataset.split, size=dataset.size, margin=dataset.margin, length=len(dataset),
                             seed=dataset.seed, version=dataset.version)
    return EditingPairs(dataset, size)


# --- scoring ---------------------------------------------------------------------------------------------------------
class EditScores:
    """Scores of edits against the true target faces.

    Rows ``source`` (the unedited face: the trivial baseline), ``edit`` and, for the AU columns, ``target`` (the true
    target face: the evaluator's ceiling). Columns: ``PSNR`` and ``SSIM`` on Y against the target face; with an
    ``evaluator`` ``AU F1`` (its occurrence calls at its decision thresholds against the target's AU labels, the mean
    over the AUs that occur) and ``AU MAE`` (the mean absolute difference of its AU probabilities on the row's face
    and on the true target face, over faces and AUs).

    Args:
        aus: the AUs of the data's labels, in order.
        evaluator: a separately trained AU detector (``config.aus``, ``decision_thresholds()``), or None.
    """

    ROWS = ("source", "edit")

    def __init__(self, aus: tuple[int, ...], evaluator: FaceForgeModel | None = None):
        self.evaluator = evaluator
        self.quality: dict[str, dict[str, list[float]]] = {row: {"PSNR": [], "SSIM": []} for row in self.ROWS}
        self.probs: dict[str, list[torch.Tensor]] = {row: [] for row in (*self.ROWS, "target")}
        self.labels: list[torch.Tensor] = []
        if evaluator is not None:
            shared = [au for au in aus if au in evaluator.config.aus]
            if not shared:
                raise ValueError(f"the AU evaluator detects none of the data's AUs {aus}")
            self.aus = tuple(shared)
            self.columns = [evaluator.config.aus.index(au) for au in shared]
            self.label_columns = [aus.index(au) for au in shared]

    @torch.no_grad()
    def add(self, source: torch.Tensor, edit: torch.Tensor, target: torch.Tensor,
            target_occurrence: torch.Tensor) -> None:
        """One batch of (B, 3, S, S) faces in [0, 1] and the targets' (B, n_aus) AU labels."""
        from faceforge.metrics.image import psnr_y, ssim_y

        for row, image in (("source", source), ("edit", edit)):
            self.quality[row]["PSNR"] += psnr_y(image.float().clamp(0, 1), target.float()).tolist()
            self.quality[row]["SSIM"] += ssim_y(image.float().clamp(0, 1), target.float()).tolist()
        if self.evaluator is not None:
            for row, image in (("source", source), ("edit", edit), ("target", target)):
                probs = torch.sigmoid(self.evaluator(image.float().clamp(0, 1)).float())
                self.probs[row].append(probs[:, self.columns].cpu())
            self.labels.append(target_occurrence[:, self.label_columns].float().cpu())

    @property
    def samples(self) -> int:
        return len(self.quality["edit"]["PSNR"])

    def table(self) -> dict[str, dict[str, float]]:
        """``{row: {column: value}}``; the AU columns need an evaluator and the ``target`` row holds AU F1 alone."""
        from faceforge.metrics.classification import au_metrics

        if not self.samples:
            raise ValueError("no edits were scored")
        table = {row: {column: float(np.mean(values)) for column, values in columns.items()}
                 for row, columns in self.quality.items()}
        if self.evaluator is not None:
            labels = torch.cat(self.labels)
            probs = {row: torch.cat(values) for row, values in self.probs.items()}
            thresholds = self.evaluator.decision_thresholds()[self.columns]
            table["target"] = {}
            for row, p in probs.items():
                table[row]["AU F1"] = au_metrics(p, labels, aus=self.aus, threshold=thresholds)["f1"]["avg"]
                if row != "target":
                    table[row]["AU MAE"] = float((p - probs["target"]).abs().mean())
        return table

    def metrics(self) -> dict[str, float]:
        """Flat metrics for logs and the card: ``psnr``, ``ssim`` (the edit), ``psnr_source``, ``ssim_source``, and
        with an evaluator ``au_f1``, ``au_mae``, ``au_f1_source``, ``au_mae_source``, ``au_f1_target``."""
        table = self.table()
        out: dict[str, float] = {}
        for row, suffix in (("edit", ""), ("source", "_source"), ("target", "_target")):
            for column, value in table.get(row, {}).items():
                out[f"{column.lower().replace(' ', '_')}{suffix}"] = value
        return out


EditFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def score_edits(edit: EditFn, batches: Iterable[dict[str, torch.Tensor]], aus: tuple[int, ...],
                evaluator: FaceForgeModel | None = None) -> EditScores:
    """Edit every pair's source to its target's AUs with ``edit(image, source_aus, target_aus)`` and score it."""
    scores = EditScores(aus, evaluator)
    for batch in batches:
        out = edit(batch["image"], batch["source_aus"], batch["target_aus"])
        scores.add(batch["image"], out, batch["target_image"], batch["target_occurrence"])
    return scores


def _load_evaluator(au_evaluator: str | FaceForgeModel | None, device: str | torch.device) -> FaceForgeModel | None:
    if au_evaluator is None or au_evaluator == "":
        return None
    if au_evaluator == "default":
        from faceforge.registry import default_model

        au_evaluator = default_model("evaluator.au")
    if isinstance(au_evaluator, str):
        from faceforge.loading import load_pretrained

        au_evaluator = load_pretrained(au_evaluator)
    return au_evaluator.to(device).eval()


@torch.no_grad()
def evaluate_expression_editing(model: EFGAN | CascadeEFGAN, dataset: Dataset, *, batch_size: int = 32,
                                num_workers: int = 0, device: str = "cpu",
                                au_evaluator: str | FaceForgeModel | None = "default") -> dict:
    """Table 2's PSNR (with SSIM) and the AU agreement of edits on same-identity pairs (``faceforge eval``): each
    source face edited to its partner's AUs and compared with the partner (:class:`EditScores`). ``dataset``: a pair
    set, or FaceForge-Synth faces whose split is rendered as pairs (:func:`editing_pairs`). The AU columns come from
    ``au_evaluator``, a separately trained AU detector (``"default"``: the shipped model of the ``evaluator.au``
    role; None: no AU columns).

    Returns:
        ``{"table": {row: {column: value}}, "percent": False, "digits": ..., "details": {...}}``.
    """
    model = model.to(device).eval()
    cfg = model.config
    pairs = editing_pairs(dataset, cfg.image_size)
    if pairs.aus != cfg.aus:
        raise ValueError(f"the data's AUs {pairs.aus} are not the model's {cfg.aus}")
    evaluator = _load_evaluator(au_evaluator, device)
    loader = DataLoader(pairs, batch_size=batch_size, num_workers=num_workers)
    batches = ({k: v.to(device) for k, v in batch.items()} for batch in loader)
    scores = score_edits(model.edit, batches, cfg.aus, evaluator)
    details: dict[str, Any] = {
        "samples": scores.samples,
        "rows": "source = the unedited face (trivial baseline); edit = the model's edit to the target's AUs; "
                "target = the true target face (the AU evaluator's ceiling)",
    }
    if evaluator is not None:
        details["evaluator"] = au_evaluator if isinstance(au_evaluator, str) else type(evaluator).__name__
    digits = {"PSNR": 2, "SSIM": 4, "AU F1": 3, "AU MAE": 3}
    return {"table": scores.table(), "percent": False, "digits": digits, "details": details}


# --- options --------------------------------------------------------------------------------------------------------
@dataclass
class EFGANOptions:
    """Options of the ``efgan`` task (GANimation's settings where the paper gives none)."""

    # the EF-GAN (options.net.local=false: the "Baseline", GANimation's generator)
    net: EFGANConfig = field(default_factory=EFGANConfig)
    # Eq. (2)'s weights, GANimation's
    lambda_cond: float = 160.0  # lambda_1: GANimation's 4000 over its batch of 25 (mean squared errors here)
    lambda_cycle: float = 10.0  # lambda_2
    lambda_attention: float = 0.1  # lambda_3
    lambda_tv: float = 1e-4  # the smoothness term's weight inside L_attn
    lambda_gp: float = 10.0
    # the critic
    d_channels: int = 64
    d_layers: int = 6
    g_every: int = 5  # one generator update every g_every critic updates
    # optimisation
    lr: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay: float = 1 / 3  # the final fraction of the run over which the learning rates fall linearly to zero
    # data
    train_length: int = 24000  # synthetic training faces
    # > 0: synthetic faces rendered with a border of this many pixels (the render cache other tasks share) and
    # centre-cropped, which puts the landmarks where a face rendered without one has them; never a random crop: the
    # local focuses need the faces aligned
    crop_margin: int = 0
    eval_length: int = 200  # pairs
    test_length: int | None = 1000  # test pairs the card reports on (None: the whole split)
    eval_split: str = "val"
    # evaluation: AU metrics of the edits by a separately trained detector; "" = off
    au_evaluator: str = ""

    def __post_init__(self) -> None:
        if min(self.lambda_cond, self.lambda_cycle, self.lambda_attention, self.lambda_tv, self.lambda_gp) < 0:
            raise ValueError("loss weights must be >= 0")
        if min(self.d_channels, self.d_layers, self.g_every) < 1:
            raise ValueError("d_channels, d_layers and g_every must be >= 1")
        if not 0 <= self.decay <= 1:
            raise ValueError(f"decay must be in [0, 1], got {self.decay}")
        if self.crop_margin < 0:
            raise ValueError(f"crop_margin must be >= 0, got {self.crop_margin}")
        if self.train_length < 2:
            raise ValueError(f"train_length must be >= 2, got {self.train_length}")


@dataclass
class CascadeEFGANOptions(EFGANOptions):
    """Options of the ``efgan_cascade`` task: those of ``efgan`` (``net`` must be the initialising EF-GAN's config)
    and the cascade's."""

    stages: int = 3  # K
    init: str = "runs/efgan/model"  # the trained single EF-GAN (export of ``efgan``) every stage starts from
    interpolator_hidden: int = 256
    interpolator_layers: int = 3
    au_critic_hidden: int = 256
    au_critic_layers: int = 3
    lambda_pseudo: float = 10.0  # the Interpolator's L1 to its pseudo targets

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.stages <= 8:
            raise ValueError(f"a cascade has 2 to 8 stages, got {self.stages}")
        if not self.init:
            raise ValueError("options.init must name the trained single EF-GAN every stage starts from (Sec. 3.3)")
        if self.lambda_pseudo < 0:
            raise ValueError("loss weights must be >= 0")
        AUInterpolatorConfig(aus=self.net.aus, hidden=self.interpolator_hidden, layers=self.interpolator_layers)
        AUCriticConfig(aus=self.net.aus, hidden=self.au_critic_hidden, layers=self.au_critic_layers)


# --- the tasks ------------------------------------------------------------------------------------------------------
class EFGANTask(Task):
    """One EF-GAN against GANimation's critic with Eq. (2); exports the :class:`~faceforge.models.efgan.EFGAN`.

    The stage networks are ``g0`` .. ``g<K-1>`` (K = 1 here), the critic ``d``."""

    Options = EFGANOptions
    opts: EFGANOptions

    @property
    def stage_count(self) -> int:
        """K, the EF-GANs in sequence."""
        return 1

    # --- data ----------------------------------------------------------------------------------------------------
    def train_dataset(self) -> Dataset:
        o = self.opts
        margin = {"margin": o.crop_margin} if o.crop_margin else {}
        faces = face_split(self, "train", length=o.train_length, hflip=True, size=o.net.image_size, **margin)
        self.train_set = UnpairedEdits(faces, o.net.image_size)
        if self.train_set.aus != o.net.aus:
            raise ConfigError(f"the training faces are labelled with AUs {self.train_set.aus}; set options.net.aus "
                              f"to them (it is {o.net.aus})")
        return self.train_set

    def _pairs(self, split: str, length: int | None) -> EditingPairs:
        size = self.opts.net.image_size
        if self.run.dataset == "synth":  # rendered once into the cache: a pair takes about a second to render
            from faceforge.data.cache import cached_synth_pairs

            return EditingPairs(cached_synth_pairs(split, size=size, length=length, version=self.run.synth_version),
                                size)
        return EditingPairs(self.dataset(split, pairs=True), size)

    def eval_dataset(self) -> Dataset:
        return self._pairs(self.opts.eval_split, self.opts.eval_length)

    # --- networks ------------------------------------------------------------------------------------------------
    def _critic(self) -> EFGANCritic:
        o = self.opts
        return EFGANCritic(EFGANCriticConfig(image_size=o.net.image_size, aus=o.net.aus, channels=o.d_channels,
                                             layers=o.d_layers))

    def build_networks(self) -> dict[str, torch.nn.Module]:
        return {"g0": EFGAN(self.opts.net), "d": self._critic()}

    @property
    def generators(self) -> list[str]:
        """The stages' network names, in cascade order."""
        return [f"g{k}" for k in range(self.stage_count)]

    def _adam(self, names: list[str], lr: float) -> torch.optim.Adam:
        params = [p for name in names for p in self.nets[name].parameters()]
        return torch.optim.Adam(params, lr=lr, betas=self.opts.betas)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self._adam(self.generators, self.opts.lr), "d": self._adam(["d"], self.opts.lr_d)}

    def build_schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        every = {step.optimizer: step.every for step in self.steps()}
        return {name: linear_decay(optimizer, math.ceil(self.total_steps / every[name]), self.opts.decay)
                for name, optimizer in self.optimizers.items()}

    def steps(self) -> list[Step]:
        # GANimation: "every 5 optimization steps of the critic network we perform a single optimization step of
        # the generator"
        return [Step("d", self.d_step), Step("g", self.g_step, every=self.opts.g_every)]

    # --- losses --------------------------------------------------------------------------------------------------
    def conditions(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """[y_0, y_1, .., y_K]: the source AUs, then each stage's condition (here the target's)."""
        return [batch["source_aus"], batch["target_aus"]]

    def attention_loss(self, out: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(sparsity, smoothness) of one pass, summed over the global and the local attention maps."""
        maps = (out["attention"], *out["local_attention"])
        return sum(attention_sparsity(a.float()) for a in maps), sum(attention_smoothness(a.float()) for a in maps)

    def generator_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Eq. (2) of every stage, summed with equal weights; the logs hold each term summed over the stages,
        unweighted."""
        o, nets = self.opts, self.nets
        with torch.no_grad():
            aus = self.conditions(batch)
        terms = dict.fromkeys(("adv", "cond", "cycle", "sparsity", "smoothness"), 0.0)
        current = batch["image"]
        for k, name in enumerate(self.generators):
            forward = nets[name](current, aus[k + 1])
            fake = forward["out"].float()
            critic = nets["d"](fake)
            terms["adv"] = terms["adv"] - critic["score"].float().mean()  # L_adv, the generator's side: -D(I_k)
            terms["cond"] = terms["cond"] + F.mse_loss(critic["aus"].float(), aus[k + 1])  # ||D_y(I_k) - y_k||^2
            back = nets[name](fake, aus[k])  # the cycle: I_k back to its input's AUs, I_(k-1) the fixed target
            terms["cycle"] = terms["cycle"] + F.l1_loss(back["out"].float(), current.detach())
            for out in (forward, back):
                sparsity, smoothness = self.attention_loss(out)
                terms["sparsity"] = terms["sparsity"] + sparsity
                terms["smoothness"] = terms["smoothness"] + smoothness
            current = fake  # the next stage edits this stage's output, end to end
        loss = (terms["adv"] + o.lambda_cond * terms["cond"] + o.lambda_cycle * terms["cycle"]
                + o.lambda_attention * (terms["sparsity"] + o.lambda_tv * terms["smoothness"]))
        return loss, terms

    def g_step(self, batch: dict[str, torch.Tensor]):
        return self.generator_loss(batch)

    def critic_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Every stage's critic loss, summed: D(I_k) - D(I_real) + lambda_gp GP + lambda_1 ||D_y(I_real) - y_0||^2."""
        o, nets = self.opts, self.nets
        real_image = batch["image"]
        with torch.no_grad():
            aus = self.conditions(batch)
            fakes, current = [], real_image
            for k, name in enumerate(self.generators):
                current = nets[name](current, aus[k + 1])["out"].float()
                fakes.append(current)
        real = nets["d"](real_image)
        real_score = real["score"].float().mean()
        cond = F.mse_loss(real["aus"].float(), aus[0])
        loss, fake_scores, penalty = real_image.new_zeros(()), 0.0, 0.0
        for fake in fakes:
            fake_score = nets["d"](fake)["score"].float().mean()
            gp = gradient_penalty(lambda x: nets["d"](x)["score"], real_image, fake)
            loss = loss + fake_score - real_score + o.lambda_gp * gp + o.lambda_cond * cond
            fake_scores, penalty = fake_scores + fake_score, penalty + gp
        return loss, {"real": real_score, "fake": fake_scores / len(fakes), "penalty": penalty, "cond": cond}

    def d_step(self, batch: dict[str, torch.Tensor]):
        return self.critic_loss(batch)

    # --- evaluation ----------------------------------------------------------------------------------------------
    def _evaluator(self) -> FaceForgeModel | None:
        if not hasattr(self, "_au_evaluator"):
            self._au_evaluator = _load_evaluator(self.opts.au_evaluator, self.device)
        return self._au_evaluator

    def evaluate(self, loader) -> dict[str, float]:
        """:meth:`EditScores.metrics` of the eval pairs."""
        return score_edits(self.export().edit, loader, self.opts.net.aus, self._evaluator()).metrics()

    def test_metrics(self) -> dict[str, float]:
        """``evaluate``'s metrics on the test pairs: the figures the card reports."""
        test = self._pairs("test", self.opts.test_length)
        loader = DataLoader(test, batch_size=self.run.eval_batch_size or self.run.batch_size, num_workers=0)
        batches = ({k: v.to(self.device) for k, v in b.items()} for b in loader)
        return score_edits(self.export().edit, batches, self.opts.net.aus, self._evaluator()).metrics()

    def sample(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row: the source | every stage's edit | the true target face."""
        aus = self.conditions(batch)
        edits, current = [], batch["image"]
        for k, name in enumerate(self.generators):
            current = self.nets[name](current, aus[k + 1])["out"].float().clamp(0, 1)
            edits.append(current)
        return torch.cat([batch["image"], *edits, batch["target_image"]], dim=-1)

    def export(self) -> FaceForgeModel:
        return self.nets["g0"]

    # --- model card ----------------------------------------------------------------------------------------------
    def card(self, metrics: dict[str, float], test: dict) -> dict:
        o, cfg = self.opts, self.opts.net
        cascade = self.stage_count > 1
        row = PAPER_ROWS[(cfg.local, cascade)]
        size = cfg.image_size
        data_id, data_text = dataset_card_name(self)
        rows = [{"name": f"{kind.upper()} (Y) to the true target face", "type": kind, "value": round(test[kind], 4),
                 "dataset_name": data_id, "dataset_type": data_id, "dataset_split": "test"}
                for kind in ("psnr", "ssim")]
        columns = ["PSNR-Y (dB)", "SSIM-Y"] + (["AU F1", "AU MAE"] if "au_f1" in test else [])
        lines = [f"| | {' | '.join(columns)} |", "|---|" + "---|" * len(columns)]
        for name, suffix in (("source, unedited (trivial baseline)", "_source"), (f"{row} (this model)", "")):
            cells = [f"{test[f'psnr{suffix}']:.2f}", f"{test[f'ssim{suffix}']:.4f}"]
            if "au_f1" in test:
                cells += [f"{test[f'au_f1{suffix}']:.3f}", f"{test[f'au_mae{suffix}']:.3f}"]
            lines.append(f"| {name} | {' | '.join(cells)} |")
        if "au_f1" in test:
            lines.append(f"| true target face | - | - | {test['au_f1_target']:.3f} | - |")
            rows.append({"name": "AU F1 of the edits", "type": "f1", "value": round(test["au_f1"], 4),
                         "dataset_name": data_id, "dataset_type": data_id, "dataset_split": "test"})
        explanation = ("Each test pair is one person with two expressions: the source face is edited to the target "
                       "face's AUs and compared with the target face. PSNR / SSIM on the Y channel")
        if "au_f1" in test:
            explanation += (f"; AU F1: the occurrence calls of {o.au_evaluator} (trained apart from this model) on "
                            f"the edit against the target's AU labels; AU MAE: the mean absolute difference of its AU "
                            f"probabilities on the edit and on the true target face")
        sections = {"Editing on the test pairs": explanation + ".\n\n" + "\n".join(lines)}
        faces = self.total_steps * self.run.batch_size * self.run.grad_accum * self.num_processes
        branches = ("a global branch and local focuses on the eyes, nose and mouth "
                    f"({', '.join(f'{h}x{w}' for h, w in cfg.focus_sizes)}) fused by a Refiner" if cfg.local
                    else "a global branch alone (GANimation's generator)")
        training = {
            "data": (f"{data_text}; {size}x{size} faces with horizontal flips, each edited to the AUs of another "
                     f"random training face (unpaired)"),
            "schedule": (f"{self.total_steps} iterations, {faces} faces = {faces / len(self.train_set):.2f} epochs of "
                         f"the {len(self.train_set)} training faces; Adam lr {o.lr:g} (generator) / {o.lr_d:g} "
                         f"(critic), betas {o.betas}, the last {o.decay:.0%} decaying linearly to zero"),
            "objective": (f"Eq. (2) with GANimation's terms: L_adv (WGAN-GP, lambda_gp {o.lambda_gp:g}) + "
                          f"{o.lambda_cond:g} L_cond + {o.lambda_cycle:g} L_cycle + {o.lambda_attention:g} (L1 + "
                          f"{o.lambda_tv:g} TV) of every attention map"),
            "critic": (f"GANimation's, with an AU-regression head ({o.d_channels} channels, {o.d_layers} layers); "
                       f"{o.g_every} critic updates per generator update"),
        }
        training.update(self.cascade_card())
        if o.au_evaluator:
            training["AU evaluation"] = f"{o.au_evaluator}, a separately trained detector"
        summary = (f"Facial expression editing of aligned {size}x{size} faces to target Action Unit intensities "
                   f"with {branches}")
        summary += (f", in a cascade of {self.stage_count} EF-GANs conditioned on interpolated AUs" if cascade
                    else ", in one step")
        summary += f" (Wu, Zhang, Lu and Chen, CVPR 2020; row '{row}' of its Table 3)."
        raised = cfg.aus[0] if 12 not in cfg.aus else 12
        return {
            "title": f"faceforge {row}",
            "summary": summary,
            "pipeline_tag": "image-to-image",
            "datasets": [data_id],
            "metrics": rows,
            "training": training,
            "tags": ["facial-expression-editing", "action-units", "gan", "attention"],
            "sections": sections,
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")\n"
                      f"face = torch.rand(1, 3, {size}, {size})  # an aligned face in [0, 1]\n"
                      f"# AU intensities / 5 of AUs {', '.join(map(str, cfg.aus))}, in that order\n"
                      f"source_aus, target_aus = torch.zeros(1, {len(cfg.aus)}), torch.zeros(1, {len(cfg.aus)})\n"
                      f"target_aus[0, {cfg.aus.index(raised)}] = 0.8  # AU{raised} at intensity 4 of 5\n"
                      f"edited = model.edit(face, source_aus, target_aus)  # (1, 3, {size}, {size}) in [0, 1]"),
        }

    def cascade_card(self) -> dict[str, str]:
        """The cascade's rows of the card's training section (none for one EF-GAN)."""
        return {}


class CascadeEFGANTask(EFGANTask):
    """Sec. 3.3's second phase: K EF-GANs initialised from a trained one, the AU Interpolator and its critic, fine-tuned
    end to end with the sum of the stages' Eq. (2); exports the :class:`~faceforge.models.efgan.CascadeEFGAN`.

    Networks: the stages ``g0`` .. ``g<K-1>``, the critic ``d``, the Interpolator ``interp`` and its critic ``d_au``."""

    Options = CascadeEFGANOptions
    opts: CascadeEFGANOptions

    @property
    def stage_count(self) -> int:
        return self.opts.stages

    def _initial(self) -> EFGAN:
        """The trained single EF-GAN of ``options.init``."""
        import faceforge
        from faceforge.errors import ModelLoadError

        name = self.opts.init
        try:
            model = faceforge.from_pretrained(name)
        except ModelLoadError as err:
            raise ConfigError(f"options.init={name!r} cannot be loaded: {err}") from err
        if not isinstance(model, EFGAN):
            raise ConfigError(f"options.init={name!r} holds a {type(model).__name__}, not an EFGAN (train one with "
                              f"--task efgan)")
        if model.config != self.opts.net:
            raise ConfigError(f"options.net must be the config of options.init={name!r}: {model.config}")
        return model

    def build_networks(self) -> dict[str, torch.nn.Module]:
        o = self.opts
        initial = self._initial()
        nets: dict[str, torch.nn.Module] = {}
        for name in self.generators:  # "use the weights of the well-trained EF-GAN to initialize all [stages]"
            nets[name] = EFGAN(o.net)
            nets[name].load_state_dict(initial.state_dict())
        nets["d"] = self._critic()
        nets["interp"] = AUInterpolator(AUInterpolatorConfig(aus=o.net.aus, hidden=o.interpolator_hidden,
                                                             layers=o.interpolator_layers))
        nets["d_au"] = AUCritic(AUCriticConfig(aus=o.net.aus, hidden=o.au_critic_hidden, layers=o.au_critic_layers))
        return nets

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**super().build_optimizers(), "interp": self._adam(["interp"], self.opts.lr),
                "d_au": self._adam(["d_au"], self.opts.lr_d)}

    def steps(self) -> list[Step]:
        every = self.opts.g_every
        return [Step("d", self.d_step), Step("d_au", self.d_au_step), Step("g", self.g_step, every=every),
                Step("interp", self.interp_step, every=every)]

    def conditions(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """[y_0, a_1, .., a_(K-1), y_tgt]: the source AUs, the Interpolator's intermediate AUs, the target's."""
        return [batch["source_aus"], *self.intermediate_aus(batch), batch["target_aus"]]

    def intermediate_aus(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """a_k = I(y_0, y~_k - y_0) for the pseudo targets y~_k, k = 1 .. K-1."""
        source = batch["source_aus"]
        pseudo = pseudo_targets(source, batch["target_aus"], self.stage_count)[:-1]
        return [self.nets["interp"](source, y - source).float() for y in pseudo]

    def d_au_step(self, batch: dict[str, torch.Tensor]):
        """The AU critic's WGAN-GP loss, every intermediate AU vector against real ones (another face's)."""
        o, critic = self.opts, self.nets["d_au"]
        real = batch["target_aus"]
        with torch.no_grad():
            fakes = self.intermediate_aus(batch)
        real_score = critic(real).float().mean()
        loss, penalty = real.new_zeros(()), 0.0
        for fake in fakes:
            gp = gradient_penalty(critic, real, fake)
            loss = loss + critic(fake).float().mean() - real_score + o.lambda_gp * gp
            penalty = penalty + gp
        return loss, {"real": real_score, "penalty": penalty}

    def interp_step(self, batch: dict[str, torch.Tensor]):
        """L_interp: -C(a_k) + lambda_pseudo ||a_k - y~_k||_1, summed over the intermediate stages."""
        source = batch["source_aus"]
        pseudo = pseudo_targets(source, batch["target_aus"], self.stage_count)[:-1]
        adv, fit = 0.0, 0.0
        for y, a in zip(pseudo, self.intermediate_aus(batch), strict=True):
            adv = adv - self.nets["d_au"](a).float().mean()
            fit = fit + F.l1_loss(a, y)
        return adv + self.opts.lambda_pseudo * fit, {"adv": adv, "pseudo_l1": fit}

    def export(self) -> CascadeEFGAN:
        return CascadeEFGAN.from_parts([self.nets[name] for name in self.generators], self.nets["interp"])

    def cascade_card(self) -> dict[str, str]:
        o = self.opts
        return {
            "cascade": (f"{o.stages} EF-GANs, each initialised from {o.init} (a single EF-GAN trained first, "
                        f"Sec. 3.3) and fine-tuned end to end, the stages' losses summed"),
            "AU Interpolator": (f"an MLP ({o.interpolator_layers} layers of {o.interpolator_hidden}) correcting the "
                                f"linear pseudo targets, against a WGAN-GP critic of real AU vectors, plus "
                                f"{o.lambda_pseudo:g} L1 to the pseudo targets"),
        }
