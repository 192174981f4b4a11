"""IGCN and RRMB: *Facial Expression Restoration Based on Improved Graph Convolutional Networks* (Zhilei Liu, Le Li,
Yunpeng Wu and Cuicui Zhang, MMM 2020): 16x16 faces with a random square occlusion restored to 128x128.

**IGCN** (Sec. 3.2, Fig. 3). A feature map is split into k x k patches, each patch a 4-D tensor (batch, channels,
height, width) and a node of a graph whose edges come from facial structure; one convolution (or deconvolution)
with weights shared over the patches transforms every node, and the nodes are mixed by a fixed, normalised
adjacency matrix A:

    F_upd = A : ReLU(W * F + b)                                                        (6)

F the stacked patches, ``:`` the product over the node axis (F_upd_i = sum_j A_ij ReLU(W * F_j + b)); the patches
are then put back in place. With one patch (k = 1) A = [[1]] and IGCN is a convolution followed by a ReLU ("same
with standard convolutional layer").

**RRMB** (Sec. 3.3, Fig. 3 right): IGCN 1x1 (image-level), 2x2 (object-level, "stable features during flipped
situation") and 8x8 (patch-level: eyes and mouth) on the same input, summed pixel-wise.

**The adjacency** (Sec. 3.2): "predefined via facial structure ... the symmetry of left face and right face and AUs
correlation"; a link is 1 where two patches are related, else 0, "by cosine similarity between two patches and the
co-existence and exclusive relation between two patches consisting of two AUs according landmarks". Built here by
:func:`face_relations` on faceforge's canonical 128x128 landmark template (:mod:`faceforge.face.template`):

* *symmetry*: patch (row, col) and its mirror image (row, k - 1 - col);
* *AU relations*: the patches that hold an AU's two centres (:func:`~faceforge.face.aus.au_centres`, JAA-Net's
  landmark rules) are linked with each other and with the centre patches of every AU that co-occurs with it
  (:data:`AU_COOCCURRENCE`: both in one EMFACS prototype, ``faceforge.face.expressions``) or excludes it
  (:data:`AU_EXCLUSION`: anatomical antagonists);
* *similarity*: the cosine similarity of two patches' landmark content on the template (how many points of each
  face part, :data:`~faceforge.face.landmarks.GROUPS`, lie in the patch) is at least ``similarity_threshold``:
  patches that show the same face part are linked (the two to four patches a mouth spans at 8x8).

plus self-loops, normalised as Kipf and Welling's GCN (the paper's [10]): A_hat = D^-1/2 (A + I) D^-1/2, symmetric.
:func:`render_adjacency` draws the matrices.

**The generator.** "When we use IGCN 1*1, the proposed model is similar with residual block [7], which is the main
component for SRGAN" (Sec. 4.2): the generator is SRGAN's (Ledig et al., CVPR 2017) with its residual blocks replaced
by RRMBs: a 9x9 conv + PReLU, ``blocks`` RRMBs at the input resolution, a 3x3 conv and the long skip, log2(scale)
x2 pixel-shuffle stages (3x3 conv to 4C, shuffle, PReLU) and a 9x9 conv to RGB.

Reading of the parts the paper leaves open (each a config field where it can vary):

* RRMB as a residual block: ``x + conv3x3(IGCN_1x1(x) + IGCN_2x2(x) + IGCN_8x8(x))``. The closing convolution and
  the identity are what makes "IGCN 1*1 similar with residual block": with ``grids=(1,)`` the block is
  ``x + conv(ReLU(conv(x)))``, the residual block of EDSR; SRGAN's own block adds batch normalisation and a PReLU,
  left out here (no normalisation anywhere in the generator: it trains with batches of 8).
* The convolution of an IGCN runs on each patch alone (zero padding at every patch border), as the paper feeds
  "4-D tensor of face patches" to a shared layer; at 8x8 on 16x16 features a patch is 2x2 pixels, so the 3x3
  kernel sees the patch and the graph brings in the rest of the face.
* The occlusion is painted on the input (its pixels set to ``fill``, black by default): "resizing high resolution
  face image to 16*16 ... and added a random binary mask" and, at test time, "only the generator is adopted to
  restore the ill facial images": the generator sees the ill image alone, not the mask.
* Input and output: (B, 3, 16, 16) in [0, 1] mapped to [-1, 1] inside; the output is mapped back to [0, 1] and not
  clamped (``restore`` clamps).
* The adjacency depends only on the grid and the config's relation fields; it is rebuilt from ``config.json`` and
  not stored with the weights.
* ``bicubic_skip`` (off in the paper's config, on in the CPU one): the output is the input's MATLAB-bicubic
  upsampling plus what the network draws, VDSR's global skip (:class:`IGCNConfig` says why).

The training losses (Eq. (1)-(5)) are in ``faceforge/training/tasks/igcn.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypedDict

import numpy as np
import torch
from torch import nn

from faceforge.data.degrade import imresize
from faceforge.face.aus import AU_CENTRE_RULES, FACEFORGE_AUS, au_centres
from faceforge.face.expressions import EMFACS_PROTOTYPES
from faceforge.face.landmarks import GROUPS
from faceforge.face.template import CANONICAL_TEMPLATE_128, TEMPLATE_SIZE
from faceforge.family import ModelFamily, Paper, Shipped
from faceforge.modeling import FaceForgeModel, ModelConfig
from faceforge.models.mpenet import MPEGANDiscriminator, MPEGANDiscriminatorConfig

# --- the adjacency ---------------------------------------------------------------------------------------------------


def _cooccurrence() -> tuple[tuple[int, int], ...]:
    pairs = {tuple(sorted(p)) for aus in EMFACS_PROTOTYPES.values() for p in itertools.combinations(aus, 2)}
    return tuple(sorted(pairs))


# AUs that co-occur: both in one EMFACS prototype (Friesen and Ekman 1983; faceforge.face.expressions), e.g. AU6 and
# AU12 (happiness), AU1 and AU2 (surprise, fear).
AU_COOCCURRENCE: tuple[tuple[int, int], ...] = _cooccurrence()
# AUs that exclude each other (faceforge's reading: anatomical antagonists that cannot show together): the upper lid
# raised vs. the eyes closed, the lip corners pulled up vs. down, the lips pressed vs. parted.
AU_EXCLUSION: tuple[tuple[int, int], ...] = ((5, 43), (12, 15), (24, 25))


def patches_holding(points: np.ndarray, grid: int, *, image_size: float = TEMPLATE_SIZE) -> list[tuple[int, ...]]:
    """The patches of a ``grid`` x ``grid`` split that hold each point.

    Patch ``(row, col)`` (index ``row * grid + col``) covers the pixels ``[col * s, (col + 1) * s)`` with
    ``s = image_size / grid``, as a closed square of pixel-centre coordinates ``[col * s - 0.5, (col + 1) * s - 0.5]``;
    a point on a border (the midline of the template at even ``grid``) belongs to both sides, so the patches of a
    mirror-symmetric layout are mirror-symmetric too.

    Args:
        points: (P, 2) x, y pixel coordinates (pixel centres at integers) in an ``image_size`` square.
        grid: patches per side k.
        image_size: side of the image the points are in (128, the template's).

    Returns:
        P tuples of 1, 2 or 4 patch indices, ascending.
    """
    side = image_size / grid
    found = []
    for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2):
        axes = []
        for value in (y, x):
            u = (value + 0.5) / side
            cells = {math.floor(u)}
            if abs(u - round(u)) < 1e-9:  # on a border: both neighbours
                cells.add(round(u) - 1)
            axes.append(sorted(c for c in cells if 0 <= c < grid) or [min(max(math.floor(u), 0), grid - 1)])
        found.append(tuple(sorted(r * grid + c for r in axes[0] for c in axes[1])))
    return found


def _mirror_index(grid: int) -> np.ndarray:
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    return rows * grid + (grid - 1 - cols)


def face_relations(grid: int, *, aus: Sequence[int] = FACEFORGE_AUS, similarity_threshold: float | None = 0.5,
                   template: np.ndarray = CANONICAL_TEMPLATE_128, image_size: float = TEMPLATE_SIZE
                   ) -> dict[str, np.ndarray]:
    """The relations between the patches of a ``grid`` x ``grid`` split of an aligned face, one matrix per kind.

    Args:
        grid: patches per side k (N = k * k nodes, index ``row * k + col``).
        aus: the AUs whose centre patches are linked (each needs a rule in ``AU_CENTRE_RULES``).
        similarity_threshold: cosine similarity of two patches' landmark content from which they are linked;
            None: no similarity links.
        template: (68, 2) landmarks of the aligned face (faceforge's canonical 128x128 template).
        image_size: side of the image the template is in.

    Returns:
        ``{"symmetry", "au", "similarity"}``: (N, N) boolean matrices, symmetric, with a False diagonal (the self-loops
        are added by :func:`face_adjacency`).
    """
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    n = grid * grid
    eye = np.eye(n, dtype=bool)
    # Left / right symmetry: (row, col) <-> (row, k - 1 - col).
    symmetry = np.zeros((n, n), dtype=bool)
    symmetry[np.arange(n), _mirror_index(grid)] = True
    # AU co-occurrence and exclusion between the patches holding the AUs' centres.
    aus = tuple(int(a) for a in aus)
    unknown = [a for a in aus if a not in AU_CENTRE_RULES]
    if unknown:
        raise ValueError(f"AUs {unknown} have no centre rule; rules exist for {sorted(AU_CENTRE_RULES)}")
    au = np.zeros((n, n), dtype=bool)
    if aus:
        centres = au_centres(np.asarray(template, dtype=np.float64), aus)  # (n_aus, 2, 2)
        held = {a: sorted({p for ps in patches_holding(c, grid, image_size=image_size) for p in ps})
                for a, c in zip(aus, centres)}
        pairs = [(a, a) for a in aus] + [p for p in (*AU_COOCCURRENCE, *AU_EXCLUSION) if set(p) <= set(aus)]
        for a, b in pairs:
            for i, j in itertools.product(held[a], held[b]):
                au[i, j] = au[j, i] = True
    # Cosine similarity of the patches' landmark content: points of each face part in the patch (a point on a border
    # counts 1/2 or 1/4 in each patch it touches).
    similarity = np.zeros((n, n), dtype=bool)
    if similarity_threshold is not None:
        content = np.zeros((n, len(GROUPS)))
        holders = patches_holding(template, grid, image_size=image_size)
        for g, indices in enumerate(GROUPS.values()):
            for point in indices:
                for p in holders[point]:
                    content[p, g] += 1.0 / len(holders[point])
        norms = np.linalg.norm(content, axis=1)
        unit = np.divide(content, norms[:, None], out=np.zeros_like(content), where=norms[:, None] > 0)
        similarity = (unit @ unit.T >= similarity_threshold - 1e-12) & (norms[:, None] > 0) & (norms[None] > 0)
    return {"symmetry": symmetry & ~eye, "au": au & ~eye, "similarity": similarity & ~eye}


def face_adjacency(grid: int, *, symmetry: bool = True, au_relations: bool = True,
                   similarity_threshold: float | None = 0.5, aus: Sequence[int] = FACEFORGE_AUS) -> np.ndarray:
    """The binary adjacency A + I of a ``grid`` x ``grid`` split: the union of the chosen :func:`face_relations` and
    the self-loops.

    Returns:
        (N, N) float64 matrix of 0 and 1, symmetric, ones on the diagonal.
    """
    relations = face_relations(grid, aus=aus if au_relations else (), similarity_threshold=similarity_threshold)
    links = np.eye(grid * grid, dtype=bool)
    if symmetry:
        links |= relations["symmetry"]
    if au_relations:
        links |= relations["au"]
    links |= relations["similarity"]
    return links.astype(np.float64)


def normalize_adjacency(adjacency: np.ndarray) -> np.ndarray:
    """Kipf and Welling's symmetric normalisation D^-1/2 A D^-1/2 (D the degrees of A, self-loops included).

    Args:
        adjacency: (N, N) non-negative symmetric matrix with a positive diagonal.

    Returns:
        (N, N) float64, symmetric; its largest eigenvalue is 1.
    """
    a = np.asarray(adjacency, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not np.allclose(a, a.T) or (a < 0).any() or (np.diag(a) <= 0).any():
        raise ValueError("the adjacency must be a square, symmetric, non-negative matrix with a positive diagonal")
    d = 1.0 / np.sqrt(a.sum(1))
    return a * d[:, None] * d[None, :]


# Colours of render_adjacency: one RGB channel per relation, self-loops white.
RELATION_COLOURS: dict[str, tuple[int, int, int]] = {"symmetry": (255, 0, 0), "au": (0, 255, 0),
                                                      "similarity": (0, 0, 255)}


def render_adjacency(grids: Sequence[int] = (1, 2, 8), *, panel: int = 256, symmetry: bool = True,
                     au_relations: bool = True, similarity_threshold: float | None = 0.5,
                     aus: Sequence[int] = FACEFORGE_AUS):
    """A picture of the adjacency of every grid: for each grid, the template face split into its patches (top) and
    the N x N matrix (bottom), side by side for the grids.

    Matrix cell (i, j) is black without a link and otherwise the sum of its relations' colours: symmetry red, AU
    relation green, similarity blue (so yellow = symmetry + AU, white = all three); the diagonal (self-loops) is
    white; a legend under the matrices says so. The face panel shows the template's landmarks (grey) and AU centres
    (green circles) on the patch grid.

    Args:
        grids: patches per side of each panel.
        panel: side of each panel in pixels (matrices are drawn with square cells, nearest-neighbour).
        symmetry, au_relations, similarity_threshold, aus: as :func:`face_adjacency`.

    Returns:
        A ``PIL.Image.Image`` (RGB), ``len(grids) * (panel + 16) + 16`` wide and ``2 * panel + 72`` high.
    """
    from PIL import Image, ImageDraw

    gap, label = 16, 24
    width = len(grids) * (panel + gap) + gap
    picture = Image.new("RGB", (width, 2 * panel + 3 * label), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    for g, grid in enumerate(grids):
        left = gap + g * (panel + gap)
        draw.text((left, 4), f"IGCN {grid}x{grid}: {grid * grid} patches", fill=(0, 0, 0))
        # the template face on the patch grid
        top, scale = label, panel / TEMPLATE_SIZE
        draw.rectangle([left, top, left + panel - 1, top + panel - 1], fill=(250, 250, 250), outline=(0, 0, 0))
        for k in range(1, grid):
            offset = round(k * panel / grid)
            draw.line([left + offset, top, left + offset, top + panel - 1], fill=(150, 150, 150))
            draw.line([left, top + offset, left + panel - 1, top + offset], fill=(150, 150, 150))
        for x, y in CANONICAL_TEMPLATE_128:
            cx, cy = left + (x + 0.5) * scale, top + (y + 0.5) * scale
            draw.ellipse([cx - 1.5, cy - 1.5, cx + 1.5, cy + 1.5], fill=(90, 90, 90))
        if au_relations and aus:
            for x, y in au_centres(CANONICAL_TEMPLATE_128, tuple(aus)).reshape(-1, 2):
                cx, cy = left + (x + 0.5) * scale, top + (y + 0.5) * scale
                draw.ellipse([cx - 2.5, cy - 2.5, cx + 2.5, cy + 2.5], outline=(0, 160, 0))
        # the matrix
        relations = face_relations(grid, aus=aus if au_relations else (), similarity_threshold=similarity_threshold)
        shown = {"symmetry": symmetry, "au": au_relations, "similarity": similarity_threshold is not None}
        n = grid * grid
        cells = np.zeros((n, n, 3), dtype=np.int32)
        for name, colour in RELATION_COLOURS.items():
            if shown[name]:
                cells += relations[name][..., None] * np.array(colour, dtype=np.int32)
        cells[np.arange(n), np.arange(n)] = 255
        matrix = Image.fromarray(cells.clip(0, 255).astype(np.uint8)).resize((panel, panel), Image.Resampling.NEAREST)
        picture.paste(matrix, (left, 2 * label + panel))
        draw.rectangle([left - 1, 2 * label + panel - 1, left + panel, 2 * label + 2 * panel], outline=(0, 0, 0))
    draw.text((gap, 2 * label + 2 * panel + 6), "links: red = left/right symmetry, green = AU co-occurrence or "
              "exclusion, blue = similar landmark content, white = self-loop; mixed colours = several", fill=(0, 0, 0))
    return picture


# --- the IGCN layer and the RRMB --------------------------------------------------------------------------------------
class IGCNLayer(nn.Module):
    """Eq. (6): F_upd = A : ReLU(W * F + b) over the ``grid`` x ``grid`` patches of a feature map.

    Args:
        in_channels: channels of the input map.
        out_channels: channels of the output map.
        grid: patches per side k; the map's sides must be multiples of k.
        adjacency: (k*k, k*k) normalised adjacency A (:func:`normalize_adjacency`); node index ``row * k + col``.
        kernel_size: side of the shared (de)convolution (odd for a convolution).
        transposed: a transposed convolution ("we also can use deconvolutional layer in IGCN") that enlarges every
            patch, and so the map, ``stride`` times; ``kernel_size - stride`` must be even and >= 0.
        stride: the deconvolution's upsampling factor (1 for a convolution).

    Shapes:
        (B, in_channels, H, W) -> (B, out_channels, H * s, W * s), s = ``stride`` for a deconvolution, else 1.
    """

    def __init__(self, in_channels: int, out_channels: int, grid: int, adjacency: torch.Tensor, *,
                 kernel_size: int = 3, transposed: bool = False, stride: int = 1):
        super().__init__()
        n = grid * grid
        if grid < 1 or tuple(adjacency.shape) != (n, n):
            raise ValueError(f"a {grid}x{grid} IGCN needs a ({n}, {n}) adjacency, got {tuple(adjacency.shape)}")
        if transposed:
            if stride < 1 or kernel_size < stride or (kernel_size - stride) % 2:
                raise ValueError(f"a deconvolution of stride {stride} needs kernel_size - stride even and >= 0, "
                                 f"got kernel_size {kernel_size}")
            # (p - 1) s - 2 pad + kernel = p s: every patch grows by exactly s
            self.conv: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride,
                                                      (kernel_size - stride) // 2)
        else:
            if stride != 1 or kernel_size % 2 == 0:
                raise ValueError(f"an IGCN convolution has stride 1 and an odd kernel, got {stride}, {kernel_size}")
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2)
        self.grid, self.scale = grid, stride if transposed else 1
        self.register_buffer("adjacency", adjacency.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.grid
        if h % k or w % k:
            raise ValueError(f"a {k}x{k} IGCN needs sides divisible by {k}, got {h}x{w}")
        # the k x k patches as a batch of 4-D tensors, node index row * k + col
        patches = x.reshape(b, c, k, h // k, k, w // k).permute(0, 2, 4, 1, 3, 5).reshape(b * k * k, c, h // k, w // k)
        # ReLU(W * F + b), the weights shared over the patches
        y = torch.relu(self.conv(patches))
        _, c_out, ph, pw = y.shape
        # A : ...: node i becomes sum_j A_ij y_j
        y = torch.matmul(self.adjacency.to(y.dtype), y.reshape(b, k * k, c_out * ph * pw))
        # the patches back in place
        return y.reshape(b, k, k, c_out, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(b, c_out, k * ph, k * pw)


class RRMB(nn.Module):
    """Region Relation Modeling Block: ``x + conv(sum_k IGCN_kxk(x))`` (Sec. 3.3; the closing convolution and the
    identity are this implementation's reading, see the module docstring).

    Args:
        channels: input and output channels.
        adjacencies: ``{k: (k*k, k*k) normalised adjacency}``, one IGCN per grid (the paper: 1, 2 and 8).
        kernel_size: side of every convolution.

    Shapes:
        (B, channels, H, W) -> (B, channels, H, W).
    """

    def __init__(self, channels: int, adjacencies: dict[int, torch.Tensor], *, kernel_size: int = 3):
        super().__init__()
        self.branches = nn.ModuleList(IGCNLayer(channels, channels, k, a, kernel_size=kernel_size)
                                      for k, a in adjacencies.items())
        self.fuse = nn.Conv2d(channels, channels, kernel_size, 1, kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # "All these scales features are summed pixel-wisely to get the final output features."
        return x + self.fuse(sum(branch(x) for branch in self.branches))


# --- the generator --------------------------------------------------------------------------------------------------
@dataclass
class IGCNConfig(ModelConfig):
    """Every size of the RRMB generator; the defaults are the paper's x8 network on 16x16 faces.

    Attributes:
        image_size: output side (128); the input side is ``image_size // scale``.
        scale: upscaling factor (8), a power of two (x2 pixel-shuffle stages).
        channels: feature channels (64, SRGAN's).
        blocks: RRMBs (16, as SRGAN's residual blocks).
        grids: the IGCNs of every RRMB, patches per side ((1, 2, 8); ``(1,)`` is the SRGAN baseline); each divides
            the input side.
        kernel_size: side of the IGCN and RRMB convolutions (3, Sec. 4.1).
        symmetry: link every patch with its mirror image.
        au_relations: link the patches of co-occurring and exclusive AUs' centres.
        similarity_threshold: cosine similarity of landmark content from which patches are linked; None: no such links.
        adjacency_aus: the AUs whose centres the AU relations link (default: faceforge's 18).
        bicubic_skip: add the MATLAB-bicubic upsampling of the input to the output, so that the network learns the
            residual (VDSR's global skip; the tail starts at zero and the untrained network returns bicubic). Not
            in the paper, whose SRGAN generator draws the whole face: at a CPU's few hundred iterations that
            generator has only learned a mean face (every input restored to the same grey blur, seen on the
            samples of the 64- and 32-channel runs), while this one starts from the input.
    """

    model_type: str = "igcn"
    image_size: int = 128
    scale: int = 8
    channels: int = 64
    blocks: int = 16
    grids: tuple[int, ...] = (1, 2, 8)
    kernel_size: int = 3
    symmetry: bool = True
    au_relations: bool = True
    similarity_threshold: float | None = 0.5
    adjacency_aus: tuple[int, ...] = FACEFORGE_AUS
    bicubic_skip: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, high in (("image_size", 1024), ("scale", 16), ("channels", 1024), ("blocks", 64),
                           ("kernel_size", 9)):
            self.check_range(name, low=1, high=high)
        if self.scale & (self.scale - 1):
            raise ValueError(f"scale must be a power of two (x2 pixel-shuffle stages), got {self.scale}")
        if self.image_size % self.scale:
            raise ValueError(f"image_size {self.image_size} must be divisible by scale {self.scale}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if not self.grids or len(set(self.grids)) != len(self.grids) or any(not 1 <= k <= 32 for k in self.grids):
            raise ValueError(f"grids must list distinct patch counts per side in [1, 32], got {self.grids}")
        uneven = [k for k in self.grids if self.lr_size % k]
        if uneven:
            raise ValueError(f"grids {uneven} do not divide the {self.lr_size}-pixel input side")
        if self.similarity_threshold is not None:
            self.check_range("similarity_threshold", low=0.0, high=1.0)
        if len(self.adjacency_aus) > 128:
            raise ValueError(f"adjacency_aus must list at most 128 AUs, got {len(self.adjacency_aus)}")
        unknown = [au for au in self.adjacency_aus if au not in AU_CENTRE_RULES]
        if unknown:
            raise ValueError(f"adjacency_aus {unknown} have no AU centre rule")

    @property
    def lr_size(self) -> int:
        """Side of the input and of the RRMB features (16)."""
        return self.image_size // self.scale

    @property
    def steps(self) -> int:
        """Outputs the network gives (1; MPENet's recurrent steps are its T), for the super-resolution scorers."""
        return 1

    def adjacency(self, grid: int) -> np.ndarray:
        """The (k*k, k*k) normalised adjacency of a ``grid`` x ``grid`` IGCN under this config's relations."""
        return normalize_adjacency(face_adjacency(grid, symmetry=self.symmetry, au_relations=self.au_relations,
                                                  similarity_threshold=self.similarity_threshold,
                                                  aus=self.adjacency_aus))


class IGCNOutput(TypedDict):
    """What :meth:`IGCNGenerator.forward` returns, in the layout of MPENet's output that the super-resolution
    scorers (``faceforge.evaluation.SuperResolutionScores``) read.

    Keys:
        sr: (B, 3, H, W) the restored face (not clamped).
        steps: ``(sr,)``: the one output of a feed-forward network.
    """

    sr: torch.Tensor
    steps: tuple[torch.Tensor, ...]


class IGCNGenerator(FaceForgeModel):
    """The RRMB generator: an occluded 16x16 face to 128x128 (SRGAN with RRMBs for its residual blocks).

    Input: (B, 3, s, s) ill faces in [0, 1], s = ``config.lr_size``: MATLAB-bicubic x8 downsampling of aligned
    128x128 faces with a random square painted over (``faceforge.data.degrade.degrade``). Output:
    :class:`IGCNOutput`; ``out["sr"]`` is the restored (B, 3, 128, 128) face (not clamped).
    """

    config_class: ClassVar[type[IGCNConfig]] = IGCNConfig
    config: IGCNConfig

    def __init__(self, config: IGCNConfig):
        super().__init__(config)
        c, kernel = config.channels, config.kernel_size
        adjacencies = {k: torch.as_tensor(config.adjacency(k), dtype=torch.float32) for k in config.grids}
        self.head = nn.Sequential(nn.Conv2d(3, c, 9, 1, 4), nn.PReLU())
        self.body = nn.Sequential(*(RRMB(c, adjacencies, kernel_size=kernel) for _ in range(config.blocks)))
        self.body_end = nn.Conv2d(c, c, kernel, 1, kernel // 2)
        self.upsample = nn.Sequential(*(nn.Sequential(nn.Conv2d(c, 4 * c, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU())
                                        for _ in range(int(math.log2(config.scale)))))
        self.tail = nn.Conv2d(c, 3, 9, 1, 4)
        if config.bicubic_skip:  # the untrained network returns the bicubic upsampling
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    @classmethod
    def tiny_config(cls) -> IGCNConfig:
        """x4 on 32x32 faces (8x8 inputs), 8 channels, 2 RRMBs of IGCN 1x1, 2x2 and 4x4."""
        return IGCNConfig(image_size=32, scale=4, channels=8, blocks=2, grids=(1, 2, 4))

    def example_inputs(self, batch_size: int = 2, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """One (B, 3, s, s) input batch in [0, 1]."""
        generator = torch.Generator().manual_seed(seed)
        s = self.config.lr_size
        return (torch.rand(batch_size, 3, s, s, generator=generator),)

    def output_shapes(self, batch_size: int) -> dict:
        """:class:`IGCNOutput`'s shapes."""
        image = (batch_size, 3, self.config.image_size, self.config.image_size)
        return {"sr": image, "steps": (image,)}

    def forward(self, lr: torch.Tensor) -> IGCNOutput:
        """Restore ill faces.

        Args:
            lr: (B, 3, s, s) occluded LR faces in [0, 1], s = ``config.lr_size`` (16).

        Returns:
            :class:`IGCNOutput`: ``sr`` (B, 3, H, W) and ``steps`` = ``(sr,)``.
        """
        cfg = self.config
        if lr.ndim != 4 or tuple(lr.shape[1:]) != (3, cfg.lr_size, cfg.lr_size):
            raise ValueError(f"IGCNGenerator takes (B, 3, {cfg.lr_size}, {cfg.lr_size}) faces, got {tuple(lr.shape)}")
        head = self.head((lr - 0.5) / 0.5)
        features = self.body_end(self.body(head)) + head  # SRGAN's long skip around the blocks
        drawn = self.tail(self.upsample(features)) * 0.5
        if cfg.bicubic_skip:
            sr = imresize(lr, size=cfg.image_size) + drawn
        else:
            sr = drawn + 0.5
        return IGCNOutput(sr=sr, steps=(sr,))

    @torch.no_grad()
    def restore(self, lr: torch.Tensor) -> torch.Tensor:
        """The restored faces (B, 3, H, W), clamped to [0, 1]."""
        return self(lr)["sr"].clamp(0, 1)

    def adjacency_picture(self, *, panel: int = 256):
        """:func:`render_adjacency` of this network's grids and relations (a ``PIL.Image.Image``)."""
        cfg = self.config
        return render_adjacency(cfg.grids, panel=panel, symmetry=cfg.symmetry, au_relations=cfg.au_relations,
                                similarity_threshold=cfg.similarity_threshold, aus=cfg.adjacency_aus)


# --- the discriminator ---------------------------------------------------------------------------------------------
@dataclass
class IGCNDiscriminatorConfig(MPEGANDiscriminatorConfig):
    """The discriminator of the IGCN GAN. The paper does not describe it ("a discriminator is designed to help
    generator to generate realistic faces") and compares with SRGAN, whose generator it builds on: this is SRGAN's
    discriminator, as MPEGAN's (:class:`~faceforge.models.mpenet.MPEGANDiscriminatorConfig` lists the fields)."""

    model_type: str = "igcn_discriminator"


class IGCNDiscriminator(MPEGANDiscriminator):
    """Input: (B, 3, S, S) faces in [0, 1]. Output: (B,) logits, > 0 for real."""

    config_class: ClassVar[type[IGCNDiscriminatorConfig]] = IGCNDiscriminatorConfig
    config: IGCNDiscriminatorConfig

    @classmethod
    def tiny_config(cls) -> IGCNDiscriminatorConfig:
        return IGCNDiscriminatorConfig(image_size=32, channels=8, stages=2, hidden=16, pooled=2)


# --- the family's declaration (faceforge/registry.py lists this module) -----------------------------------------
FAMILY = ModelFamily(
    name="igcn",
    summary="occluded 16x16 faces -> 128x128 with graph convolutions over face patches (RRMB) and an AU-classifier "
            "loss",
    paper=Paper(title="Facial Expression Restoration Based on Improved Graph Convolutional Networks",
                authors="Zhilei Liu, Le Li, Yunpeng Wu and Cuicui Zhang", venue="MMM", year=2020),
    networks=(IGCNGenerator, IGCNDiscriminator),
    tasks={"igcn": "faceforge.training.tasks.igcn:IGCNTask"},
    evaluators={"igcn": "faceforge.training.tasks.igcn:evaluate_occluded_restoration"},
    shipped=(
        Shipped("igcn", "IGCN: occluded 16x16 faces -> 128x128 with RRMBs (graph convolutions over face patches) and "
                        "an AU-classifier loss", roles=("app.igcn",)),
        Shipped("igcn-srgan", "IGCN's SRGAN baseline: the same generator with IGCN 1x1 alone and no AU loss, trained "
                              "on the same faces and schedule", roles=("app.igcn_baseline",)),
    ),
)
