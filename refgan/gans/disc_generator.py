"""A generator that draws round absorbing objects as discs (``--generator discs``).

Every design of the main-job records drew the red cells the same way: as mottled,
ring-like pink clouds, where the real ones are soft, evenly filled discs (the
colour two-sample test reads the difference in the pixel percentiles). A stack of 3x3
convolutions has to discover "a disc of one radius, anywhere" from a few thousand
steps of critic gradients; a blood smear's red cells are that, by their biology.
This generator is given the shape and learns where, how big and how dark:

    x_G     = Gaur et al.'s upsample generator (RGB, tanh): field, white cell, rest
    h       = Conv1x1(f)          f: G's projected features on its g x g start grid (g = 4
                                  at 16 px and above), two candidate discs per grid cell
    c       = cell centre + tanh(h_xy) 2/g       centre (image spans [-1, 1]); a disc may
                                                 move one cell from its own
    r       = r0 exp(RADIUS_RANGE tanh(h_r))     radius, r0 = exp(rho) learnt
    d       = softplus(h_d - DENSITY_OFFSET)     density, 0 = no disc
    m(p)    = sigmoid((r - |p - c|) / tau) (1 - pallor exp(-(|p - c| / (PALLOR_WIDTH r))^2))
                                                 a soft-edged disc with a paler centre
                                                 (a biconcave red cell seen from above)
    OD_c(p) = A_c sum_discs d m(p)               Beer-Lambert: densities add where discs
                                                 overlap; A = softplus(a) (3,) the discs'
                                                 absorbance colour, learnt
    x_c(p)  = (x_G,c(p) + 1) exp(-OD_c(p)) - 1   the discs absorb light from G's image

tau = softplus(t) 2 / size (the edge's width in pixels, learnt), pallor = sigmoid(q).
The density map is computed at half the side (from 32 px up) and doubled by bilinear
interpolation (:func:`refgan.ops.upsample_bilinear`): a disc of the main job's 7 px
radius keeps its shape and its edge softens by about a pixel (the real images' focus
blur is 0-0.9 px). Drawn at full side, the disc layer cost more than the rest of G's
forward and backward pass; at half side about a third of it (docs/toolkit.md).
Densities start at softplus(-1) = 0.31: a fresh generator draws faint discs everywhere,
and the critic's gradients thin them out and darken the ones where red cells should
be. (Started nearly invisible, at softplus(-4) = 0.02, they were still invisible
after 400 steps of the main job: G's convolutions had drawn the red cells.) Every part
is smooth (|p - c| is sqrt(dx^2 + dy^2 + EPS), so the centre's gradient is finite
where it sits on a pixel centre); G's training needs the first-order derivatives
only, the critic's double backward does not pass through G.

Caveat: the embedded cells' red cells are rendered as soft biconcave discs under
Beer-Lambert (``refgan.data.synthetic.render_discs``), so this prior fits them more
closely than it fits real smears, whose red cells crowd, deform and overlap more; it
also assumes one kind of disc per image (healthy and blast models each learn their
own). The white cell stays G's to draw.
"""
from __future__ import annotations

import math

import numpy as np

from refgan import backend, nn, ops
from refgan.gans.architectures import Generator, stages

__all__ = ["DiscGenerator", "DiscLayer"]

DENSITY_OFFSET = 1.0     # softplus(-1) = 0.31: a fresh G draws faint discs everywhere
RADIUS_RANGE = 0.5       # radii within r0 e^-0.5 .. r0 e^0.5
PALLOR_WIDTH = 0.5       # the pale centre's width, relative to the radius
EPS = 1e-6               # keeps |p - c| differentiable at 0
HALF_FROM = 32           # from this image side on, the density map is drawn at half the side


class DiscLayer(nn.Module):
    """Grid features (N, C, g, g) and an image (N, 3, S, S) in [-1, 1] -> the image
    seen through K = per_cell g^2 soft absorbing discs, ``per_cell`` per grid cell
    (module docstring)."""

    def __init__(self, in_channels: int, grid: int, size: int, per_cell: int = 2,
                 radius: float = 0.2, edge_px: float = 1.0, pallor: float = 0.3,
                 absorbance=(0.1, 0.4, 0.3)):
        super().__init__()
        self.grid, self.size, self.per_cell = grid, size, per_cell
        self.side = size // 2 if size >= HALF_FROM else size       # the density map's side
        xp = backend.xp()
        self.head = nn.Conv2d(in_channels, 4 * per_cell, 1)   # (density, dx, dy, radius) per disc
        self.log_radius = nn.Parameter(xp.asarray([math.log(radius)], dtype=np.float32))
        self.edge = nn.Parameter(xp.asarray([math.log(math.expm1(edge_px))], dtype=np.float32))
        self.pallor = nn.Parameter(xp.asarray([math.log(pallor / (1 - pallor))], dtype=np.float32))
        a = np.log(np.expm1(np.asarray(absorbance, np.float64)))
        self.absorb = nn.Parameter(xp.asarray(a, dtype=np.float32))
        # pixel centres and cell centres in image units ([-1, 1]), constants
        pix = (-1.0 + (np.arange(self.side) + 0.5) * 2.0 / self.side)
        cells = (-1.0 + (np.arange(grid) + 0.5) * 2.0 / grid)
        self._px = pix[None, None, None, :]                          # (1, 1, 1, S): x
        self._py = pix[None, None, :, None]                          # (1, 1, S, 1): y
        # disc k = (cell, j) of the head's (N, 4 per_cell, g, g) output read as (N, 4, K)
        self._cx = np.tile(np.tile(cells, grid), per_cell)[None, :, None, None]   # (1, K, 1, 1)
        self._cy = np.tile(np.repeat(cells, grid), per_cell)[None, :, None, None]

    def _const(self, a, like):
        return backend.xp().asarray(a, dtype=like.dtype)

    def discs(self, features):
        """features (N, C, g, g) -> (density, cx, cy, r), each (N, K, 1, 1), K = per_cell g^2."""
        n, k = features.shape[0], self.per_cell * self.grid * self.grid
        h = ops.reshape(self.head(features), (n, 4, k, 1, 1))
        hd, hx, hy, hr = (ops.reshape(ops.getitem(h, (slice(None), i)), (n, k, 1, 1))
                          for i in range(4))
        step = 2.0 / self.grid
        density = ops.softplus(hd - DENSITY_OFFSET)
        cx = ops.tanh(hx) * step + self._const(self._cx, hx)
        cy = ops.tanh(hy) * step + self._const(self._cy, hy)
        r = ops.exp(self.log_radius + RADIUS_RANGE * ops.tanh(hr))
        return density, cx, cy, r

    def optical_density(self, density, cx, cy, r):
        """(N, K, 1, 1) discs -> summed disc density (N, 1, S, S), before the colour
        (drawn at ``self.side`` and doubled to S when that is S / 2)."""
        dx = self._const(self._px, cx) - cx                           # (N, K, 1, side)
        dy = self._const(self._py, cy) - cy                           # (N, K, side, 1)
        d2 = dx * dx + dy * dy + EPS                                  # (N, K, side, side)
        tau = ops.softplus(self.edge) * (2.0 / self.size)
        edge = ops.sigmoid((r - ops.sqrt(d2)) / tau)
        centre = ops.exp(d2 * (-1.0 / PALLOR_WIDTH ** 2) / (r * r))
        profile = edge - edge * centre * ops.sigmoid(self.pallor)
        od = ops.sum(profile * density, axis=1, keepdims=True)
        return ops.upsample_bilinear(od) if self.side < self.size else od

    def forward(self, features, image):
        od = self.optical_density(*self.discs(features))              # (N, 1, S, S)
        colour = ops.reshape(ops.softplus(self.absorb), (1, 3, 1, 1))
        return (image + 1.0) * ops.exp(-(od * colour)) - 1.0

    def extra_repr(self):
        return f"grid={self.grid}, size={self.size}"


class DiscGenerator(nn.Module):
    """z (N, in_dim) -> image (N, 3, size, size) in [-1, 1]: Gaur et al.'s upsample
    generator with a :class:`DiscLayer` read from its first grid's features."""

    def __init__(self, in_dim: int, size: int, width: int, upsample: str = "nearest"):
        super().__init__()
        self.in_dim, self.size = in_dim, size
        self.body = Generator(in_dim, size, width, style="upsample", upsample=upsample)
        _, self.grid = stages(size)                                    # the projection's grid
        self.discs = DiscLayer(self.body.blocks[1].in_channels, self.grid, size)

    def forward(self, z):
        features = self.body.project(z)                                # (N, C, grid, grid)
        return self.discs(features, self.body.blocks(features))

    def extra_repr(self):
        return f"in_dim={self.in_dim}, size={self.size}, grid={self.grid}"
