"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs", section 2)
of Gaur et al.'s WGAN-GP networks: ``--progressive STEPS``.

Training starts at 16 x 16 and doubles the resolution until the full size is reached,
so the first steps, which learn colour and layout, cost a fraction of a full-size step
and detail is learnt last. Each doubling is faded in: the growth level

    p(t) = k + a,   k = min(t // 2P, L),  a = clip((t mod 2P - P) / P, 0, 1)  (a = 0 once k = L)

(P = ``--progressive`` steps, L = the number of doublings from 16 to the full size) holds a
resolution for P generator steps and then fades the next one in over P steps: after
2 L P steps the networks are Gaur et al.'s, at full size, for the rest of the run.
p is a function of the step alone, so a resumed run grows exactly as an uninterrupted one.

At level p = k + a, with r = 16 * 2^k the current side and x_r the generator's features
at side r:

    G(z)  = tanh((1 - a) up(rgb_r(x_r)) + a rgb_2r(x_2r))           (a > 0: fading 2r in)
    G(z)  = tanh(rgb_r(x_r))                                         (a = 0)
    D(x)  = D_{>2r}((1 - a) from_r(down(x)) + a stage_2r(from_2r(x)))  (x at side 2r)

``rgb_r`` is a 1 x 1 convolution of the features to colour (at full size: the upsample
generator's own last 3 x 3 conv), ``from_r`` a 1 x 1 convolution and LeakyReLU(0.2) from
colour to the critic's features at side r (at full size: none, the first 5 x 5 conv reads
colour as in Gaur et al.'s critic), ``up`` nearest-neighbour upsampling and ``down`` the
2 x 2 average. The real images the critic sees are brought to the same level:
``(1 - a) up(down(x)) + a x`` at side 2r (PGGAN's fade of the reals), which a gradient
penalty between real and generated images needs: both live at one side.

A sample is always full size: below it, the generator's output is upsampled (nearest
neighbour), so the monitor's grids and tests read what the generator can draw so far.
Deviations from PGGAN for the CPU budget and for the comparison with Gaur et al.'s
networks: the architecture at full size is exactly the ``upsample`` generator and the
``wgan`` critic (so the difference from the preset is the growing alone), batch norm is
kept in G, no equalised learning rate, and the start is 16 x 16, not 4 x 4.
"""
from __future__ import annotations

import numpy as np

from refgan import backend, nn, ops
from refgan.gans.architectures import _widths, stages

START = 16   # the side training starts at (a cell and its nucleus are a few pixels there)


def levels(size: int) -> int:
    """Doublings from the start side to ``size`` (0 when ``size`` <= 16)."""
    return max(0, int(np.log2(size // START))) if size >= START else 0


def growth(step: int, grow_steps: int, size: int) -> float:
    """The growth level p(step) = k + a of the module docstring (0 .. levels(size))."""
    L = levels(size)
    if grow_steps <= 0:
        return float(L)
    k, within = divmod(int(step), 2 * int(grow_steps))
    if k >= L:
        return float(L)
    return k + min(max((within - grow_steps) / grow_steps, 0.0), 1.0)


def side_at(p: float, size: int) -> int:
    """The side of the images at level p: the one being faded in, or the current one."""
    k = int(np.floor(p))
    return min(START * 2 ** (k + (p > k)), size) if size >= START else size


def down(x):
    """2 x 2 average: (N, C, H, W) -> (N, C, H/2, W/2); linear, so every derivative order follows."""
    return ops.sum_pool2d(x, 2) * 0.25


def at_level(x, p: float, size: int):
    """Real images (N, C, size, size) as the critic sees them at level p: averaged down
    to the level's side, and during a fade ``(1 - a) up(down(x)) + a x``."""
    side = side_at(p, size)
    while x.shape[-1] > side:
        x = down(x)
    a = p - np.floor(p)
    if a > 0:
        x = (1.0 - a) * ops.upsample_nearest(down(x), 2) + a * x
    return x


class _Level(nn.Module):
    """The growth level as a buffer, so a checkpoint (and the EMA copy of G, which
    copies G's buffers) knows which resolution its networks draw at."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.register_buffer("level", np.array(float(levels(size)), np.float32))

    @property
    def p(self) -> float:
        return float(backend.to_numpy(self.level))

    def set_level(self, p: float) -> None:
        self.level = np.array(float(p), np.float32)


class ProgressiveGenerator(_Level):
    """Gaur et al.'s upsample generator with an RGB output at every side from 16 up;
    z (N, in_dim) -> image at the current level's side (:func:`side_at`)."""

    def __init__(self, in_dim: int, size: int, width: int, channels: int = 3):
        super().__init__(size)
        n, base = stages(size)
        ch = _widths(size, width)[::-1]          # 4x4 end first
        self.in_dim = in_dim
        self.project = nn.Sequential(nn.Linear(in_dim, ch[0] * base * base, bias=False),
                                     nn.BatchNorm1d(ch[0] * base * base), nn.LeakyReLU(0.2),
                                     nn.Unflatten((ch[0], base, base)))
        blocks, to_rgb = [], []
        for i in range(n):
            side = base * 2 ** (i + 1)
            if i == n - 1:   # the full-size stage draws colour itself, as in Gaur et al.'s
                blocks.append(nn.Sequential(nn.Upsample(2), nn.Conv2d(ch[i], channels, 3, 1, "same")))
                to_rgb.append(nn.Identity())
            else:
                blocks.append(nn.Sequential(nn.Upsample(2), nn.Conv2d(ch[i], ch[i + 1], 3, 1, "same", bias=False),
                                            nn.BatchNorm2d(ch[i + 1]), nn.LeakyReLU(0.2)))
                to_rgb.append(nn.Conv2d(ch[i + 1], channels, 1) if side >= START else nn.Identity())
        self.blocks, self.to_rgb = nn.Sequential(*blocks), nn.Sequential(*to_rgb)
        self.sides = [base * 2 ** (i + 1) for i in range(n)]

    def forward(self, z):
        p = self.p
        side = side_at(p, self.size)
        a = p - np.floor(p)
        x, prev = self.project(z), None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if self.sides[i] == side // 2 and a > 0:
                prev = self.to_rgb[i](x)
            if self.sides[i] == side:
                rgb = self.to_rgb[i](x)
                if prev is not None:
                    rgb = (1.0 - a) * ops.upsample_nearest(prev, 2) + a * rgb
                return ops.tanh(rgb)
        raise AssertionError("unreachable: the level's side is one of the stages'")

    def full_size(self, images: np.ndarray) -> np.ndarray:
        """Images drawn below the full size, upsampled to it (nearest neighbour)."""
        s = self.size // images.shape[-1]
        return images if s == 1 else images.repeat(s, axis=2).repeat(s, axis=3)


class ProgressiveTrunk(_Level):
    """Gaur et al.'s WGAN critic trunk reading images at the current level's side:
    image (N, C, side, side) -> features (N, out_features)."""

    def __init__(self, size: int, width: int, in_channels: int = 3, dropout: float = 0.3,
                 minibatch_std: int = 0):
        super().__init__(size)
        n, base = stages(size)
        ch = [in_channels] + _widths(size, width)
        stages_, from_rgb = [], []
        for i in range(n):
            layers, c_in = [], ch[i]
            if minibatch_std and i == n - 1:
                layers += [nn.MinibatchStd(minibatch_std)]
                c_in += 1
            layers += [nn.Conv2d(c_in, ch[i + 1], 5, 2, "same"), nn.LeakyReLU(0.2)]
            if dropout:
                layers += [nn.Dropout(dropout)]
            stages_.append(nn.Sequential(*layers))
            side = size // 2 ** i
            from_rgb.append(nn.Sequential(nn.Conv2d(in_channels, ch[i], 1), nn.LeakyReLU(0.2))
                            if 0 < i and side >= START else nn.Identity())
        self.stages, self.from_rgb = nn.Sequential(*stages_), nn.Sequential(*from_rgb)
        self.sides = [size // 2 ** i for i in range(n)]     # the side each stage reads
        self.out_features = ch[-1] * base * base

    def forward(self, x):
        p = self.p
        a = p - np.floor(p)
        first = self.sides.index(x.shape[-1])
        h = self.stages[first](self.from_rgb[first](x))
        if a > 0:   # the new side fades in over the features of the one below it
            h = (1.0 - a) * self.from_rgb[first + 1](down(x)) + a * h
        for stage in self.stages[first + 1:]:
            h = stage(h)
        return ops.flatten(h, 1)
