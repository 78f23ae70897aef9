"""Procedural microscope images of white blood cells (the embedded dataset).

No real leukemia images ship with refgan, so it renders look-alikes from a few
hundred lines of code, deterministically for a seed.

Image formation
---------------
A stained smear is a thin absorbing layer under bright-field light, so we render
in optical density (Beer-Lambert): every structure ``j`` contributes a density
map ``d_j(x, y) >= 0`` times its stain's absorbance ``a_j`` (one value per RGB
channel), densities add where structures overlap, and the camera sees

    I_c(x, y) = L_c(x, y) * exp(- sum_j d_j(x, y) a_{j,c}) + noise,

with ``L`` the (uneven) illumination.  Overlapping red cells therefore darken
as on a real slide, a paler red-cell centre is a lower density, and a nucleus is
a high density of a purple (green-absorbing) stain.  The result is blurred per
image (focus), noised (sensor) and mapped to ``[-1, 1]``.

Scene (coordinates: the image spans [-1, 1] in x and y)
-------------------------------------------------------
* ``smear`` (like ALL-IDB2): one white cell near the centre, 3-8 red cells
  (radius ~0.21, biconcave: central pallor), placed around it at random angles
  and distances, overlapping each other or cut by the border; light pinkish
  plasma background.
* ``segmented`` (like C-NMC 2019): the white cell alone, zoomed, on black.

White-cell morphology
---------------------
``healthy`` (mature lymphocyte) and ``blast`` (lymphoblast) are the two ends of
one continuous "blastness" ``s`` (0 = textbook lymphocyte, 1 = textbook blast).
Every morphological feature is interpolated in ``s``: cell radius (0.245 ->
0.40, red cells are ~0.21), nucleus/cell radius ratio (0.80 -> 0.92), outline
irregularity and the chance and depth of a nuclear cleft, chromatin (coarse
clumped, dense -> fine, dispersed, paler), 1-3 pale nucleoli for ``s > 0.5``,
and cytoplasm colour (pale blue -> basophilic).  ``difficulty`` in [0, 1] moves
the two class means of ``s`` towards each other (means ``0.5 -/+ (1 - d)/2``,
std ``0.12 + 0.1 d``), so classes overlap more as it grows.  The default was
calibrated so that Gaur et al.'s logistic-regression baseline lands in its 70-85%
range (docs/data.md, "Difficulty and calibration"; ``python cli.py data calibrate``).

The multi-class preset ``classes='pbc'`` (like the Barcelona PBC set) adds
``neutrophil`` (3-5 nuclear lobes, lilac granules), ``eosinophil`` (two lobes,
orange granules), ``basophil`` (dark granules over the nucleus), ``lymphocyte``
(the healthy morphology) and ``monocyte`` (large, kidney-shaped lacy nucleus,
grey-blue vacuolated cytoplasm).

Nuisance (per image): stain hue/saturation/strength (absorbance jitter),
illumination colour, brightness, gradient and low-frequency unevenness, focus
blur, sensor noise, cell position and orientation, red-cell count and layout.

Determinism: images are produced in chunks of 64 per class; chunk ``k`` of
class ``c`` draws from ``default_rng([seed, class_id(c), k])``, so a class's
images do not depend on how many images the other classes get, and asking for
fewer images returns a prefix of the larger request.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from refgan.data.dataset import Dataset
from refgan.data.imops import gaussian_blur, resize, resize_matrix
from refgan.errors import UserError

__all__ = ["make_blood_cells", "make_pbc_cells", "CLASS_IDS", "PBC_CLASSES", "DEFAULT_DIFFICULTY",
           "render_discs_numpy", "render_discs"]

#: Default ``difficulty``; calibrated in docs/data.md ("Difficulty and calibration").
DEFAULT_DIFFICULTY = 0.60

#: Stable ids used to seed each class (never reorder: it would change the data).
CLASS_IDS = {"healthy": 0, "blast": 1, "neutrophil": 2, "eosinophil": 3, "basophil": 4,
             "lymphocyte": 5, "monocyte": 6}
PBC_CLASSES = ("neutrophil", "eosinophil", "basophil", "lymphocyte", "monocyte")
STYLES = ("smear", "segmented")
MIN_RENDER = 16  # smallest side a cell is drawn at; smaller sizes are downsampled from it
CHUNK = 64
MAX_RBC = 8
MAX_LOBES = 5
MAX_NUCLEOLI = 3

# Stain absorbances (optical density per unit density, RGB).
_ABS_NUCLEUS = np.array([0.62, 1.25, 0.42])      # purple: absorbs green most
_ABS_CYTO_PALE = np.array([0.22, 0.12, 0.04])    # pale blue
_ABS_CYTO_BASO = np.array([0.40, 0.27, 0.08])    # deeper (basophilic) blue
_ABS_RBC = np.array([0.07, 0.36, 0.27])          # salmon pink
_ABS_PLASMA = np.array([0.025, 0.07, 0.035])     # faint pink background


# ---------------------------------------------------------------------------
# red cells: soft biconcave discs (Numba kernel + NumPy twin)
# ---------------------------------------------------------------------------
def render_discs_numpy(discs: np.ndarray, size: int, zoom: float = 1.0) -> np.ndarray:
    """Summed density of elliptic biconcave discs, the NumPy reference.

    Parameters
    ----------
    discs : (B, K, 8) float
        Per disc ``cx, cy, a, b, theta, pallor_depth, pallor_width, weight``
        (image units, the image spans [-zoom, zoom]).  ``weight = 0`` disables.
    size : output side in pixels.

    Returns
    -------
    (B, size, size) float32 density
    ``sum_k w_k cov_k (1 - depth_k exp(-(rho_k / width_k)^2))`` where ``rho`` is
    the normalised elliptic radius and ``cov = clip(0.5 - (rho - 1) min(a, b) /
    px, 0, 1)`` an anti-aliased edge one pixel ``px = 2 zoom / size`` wide.
    """
    px = 2.0 * zoom / size
    g = (-1.0 + (np.arange(size) + 0.5) * 2.0 / size) * zoom
    X, Y = g[None, None, :], g[None, :, None]
    out = np.zeros((discs.shape[0], size, size), np.float64)
    for k in range(discs.shape[1]):
        cx, cy, a, b, th, dep, wid, w = (discs[:, k, i][:, None, None] for i in range(8))
        dx, dy = X - cx, Y - cy
        c, s = np.cos(th), np.sin(th)
        u = (c * dx + s * dy) / a
        v = (-s * dx + c * dy) / b
        rho = np.sqrt(u * u + v * v)
        cov = np.clip(0.5 - (rho - 1.0) * np.minimum(a, b) / px, 0.0, 1.0)
        out += w * cov * (1.0 - dep * np.exp(-(rho / wid) ** 2))
    return out.astype(np.float32)


try:  # Numba pays here: it visits only the pixels inside each disc's box.
    import numba

    @numba.njit(cache=True)
    def _discs_kernel(discs, size, zoom, out):  # pragma: no cover - compiled
        px = 2.0 * zoom / size
        for bi in range(discs.shape[0]):
            for k in range(discs.shape[1]):
                cx, cy, a, b, th, dep, wid, w = discs[bi, k]
                if w == 0.0:
                    continue
                c, s = np.cos(th), np.sin(th)
                rmax = max(a, b) + 2 * px
                j0 = max(0, int(np.floor(((cx - rmax) / zoom + 1.0) / 2.0 * size)))
                j1 = min(size, int(np.ceil(((cx + rmax) / zoom + 1.0) / 2.0 * size)) + 1)
                i0 = max(0, int(np.floor(((cy - rmax) / zoom + 1.0) / 2.0 * size)))
                i1 = min(size, int(np.ceil(((cy + rmax) / zoom + 1.0) / 2.0 * size)) + 1)
                mab = min(a, b)
                for i in range(i0, i1):
                    y = (-1.0 + (i + 0.5) * 2.0 / size) * zoom
                    dy = y - cy
                    for j in range(j0, j1):
                        x = (-1.0 + (j + 0.5) * 2.0 / size) * zoom
                        dx = x - cx
                        u = (c * dx + s * dy) / a
                        v = (-s * dx + c * dy) / b
                        rho = np.sqrt(u * u + v * v)
                        cov = 0.5 - (rho - 1.0) * mab / px
                        if cov <= 0.0:
                            continue
                        if cov > 1.0:
                            cov = 1.0
                        out[bi, i, j] += w * cov * (1.0 - dep * np.exp(-(rho / wid) ** 2))

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False


def render_discs(discs: np.ndarray, size: int, zoom: float = 1.0) -> np.ndarray:
    """:func:`render_discs_numpy`, compiled with Numba when available."""
    if not _HAVE_NUMBA or os.environ.get("REFGAN_DATA_NUMPY"):
        return render_discs_numpy(discs, size, zoom)
    out = np.zeros((discs.shape[0], size, size), np.float64)
    _discs_kernel(np.ascontiguousarray(discs, np.float64), size, float(zoom), out)
    return out.astype(np.float32)


# ---------------------------------------------------------------------------
# parameter sampling (all per image, one class per call)
# ---------------------------------------------------------------------------
def _lerp(a, b, t):
    return a + (b - a) * t


def _empty_params(n):
    z = np.zeros
    return dict(
        cx=z(n), cy=z(n), Rc=z(n), c_amp=z((n, 3)), c_ph=z((n, 3)),
        n_on=z(n), n_dx=z(n), n_dy=z(n), Rn=z(n), n_amp=z((n, 4)), n_ph=z((n, 4)),
        cleft=z(n), cleft_ang=z(n), cleft_w=np.full(n, 0.4),
        lobes=z((n, MAX_LOBES, 6)),  # dx, dy, a, b, rot, on
        coarse=z(n), fine=z(n), contrast=z(n), n_dens=z(n),
        nucleoli=z((n, MAX_NUCLEOLI, 4)),  # dx, dy, r, strength
        cyto_abs=z((n, 3)), cyto_dens=z(n),
        gran_abs=z((n, 3)), gran_dens=z(n), gran_on_nucleus=z(n), vacuoles=z(n),
        nuc_abs=np.tile(_ABS_NUCLEUS, (n, 1)),
    )


def _lymphoid(rng, n, s):
    """Lymphocyte (s = 0) ... lymphoblast (s = 1) morphology."""
    p = _empty_params(n)
    t = np.clip(s, -0.1, 1.1)
    tc = np.clip(s, 0.0, 1.0)
    p["Rc"] = _lerp(0.265, 0.40, t) * np.exp(rng.normal(0, 0.06, n))
    p["c_amp"] = rng.normal(0, 0.025, (n, 3))
    p["c_ph"] = rng.uniform(0, 2 * np.pi, (n, 3))
    nc = np.clip(_lerp(0.80, 0.92, t) + rng.normal(0, 0.025, n), 0.7, 0.96)
    p["n_on"][:] = 1
    p["Rn"] = nc * p["Rc"]
    off = rng.uniform(0, 1, n) * _lerp(0.7, 0.4, tc) * (1 - nc) * p["Rc"]
    ang = rng.uniform(0, 2 * np.pi, n)
    p["n_dx"], p["n_dy"] = off * np.cos(ang), off * np.sin(ang)
    irr = _lerp(0.022, 0.07, tc)[:, None] * np.array([1.0, 0.7, 0.5, 0.4])
    p["n_amp"] = rng.normal(0, 1, (n, 4)) * irr
    p["n_ph"] = rng.uniform(0, 2 * np.pi, (n, 4))
    has_cleft = rng.uniform(0, 1, n) < _lerp(0.05, 0.55, tc)
    p["cleft"] = has_cleft * rng.uniform(0.12, 0.32, n) * np.clip(_lerp(0.4, 1.0, tc), 0, 1)
    p["cleft_ang"] = rng.uniform(0, 2 * np.pi, n)
    p["cleft_w"] = rng.uniform(0.25, 0.45, n)
    p["coarse"] = 1 - tc
    p["fine"] = tc
    p["contrast"] = _lerp(0.38, 0.14, tc) * rng.uniform(0.8, 1.2, n)
    p["n_dens"] = _lerp(1.20, 0.80, t) * rng.uniform(0.9, 1.1, n)
    k = np.where(tc > 0.5, rng.integers(1, MAX_NUCLEOLI + 1, n), 0)
    for j in range(MAX_NUCLEOLI):
        r = rng.uniform(0, 0.5, n) * p["Rn"]
        a = rng.uniform(0, 2 * np.pi, n)
        p["nucleoli"][:, j] = np.stack([
            p["n_dx"] + r * np.cos(a), p["n_dy"] + r * np.sin(a),
            rng.uniform(0.035, 0.05, n), (j < k) * np.clip(_lerp(-0.4, 0.65, tc), 0, 0.6),
        ], 1)
    p["cyto_abs"] = _lerp(_ABS_CYTO_PALE, _ABS_CYTO_BASO, tc[:, None])
    p["cyto_dens"] = rng.uniform(0.8, 1.2, n)
    return p


def _lobed(rng, n, n_lobes_range, arc_r, lobe_a, lobe_b, spread):
    """Lobes placed along an arc: ``(n, MAX_LOBES, 6)``."""
    lobes = np.zeros((n, MAX_LOBES, 6))
    k = rng.integers(n_lobes_range[0], n_lobes_range[1] + 1, n)
    base = rng.uniform(0, 2 * np.pi, n)
    span = rng.uniform(*spread, n)
    R = rng.uniform(*arc_r, n)
    for j in range(MAX_LOBES):
        frac = np.where(k > 1, j / np.maximum(k - 1, 1), 0.5) - 0.5
        a = base + frac * span
        lobes[:, j, 0] = R * np.cos(a) + rng.normal(0, 0.01, n)
        lobes[:, j, 1] = R * np.sin(a) + rng.normal(0, 0.01, n)
        lobes[:, j, 2] = rng.uniform(*lobe_a, n)
        lobes[:, j, 3] = rng.uniform(*lobe_b, n)
        lobes[:, j, 4] = a + np.pi / 2
        lobes[:, j, 5] = j < k
    return lobes


def _sample_class(rng, cls, n, difficulty):
    d = float(difficulty)
    if cls in ("healthy", "blast"):
        gap = 1.0 - d
        mu = 0.5 - gap / 2 if cls == "healthy" else 0.5 + gap / 2
        s = rng.normal(mu, 0.12 + 0.10 * d, n)
        return _lymphoid(rng, n, s)
    if cls == "lymphocyte":
        return _lymphoid(rng, n, rng.normal(0.05, 0.08, n))
    p = _empty_params(n)
    p["c_amp"] = rng.normal(0, 0.02, (n, 3))
    p["c_ph"] = rng.uniform(0, 2 * np.pi, (n, 3))
    p["coarse"][:] = 1.0
    p["contrast"] = rng.uniform(0.2, 0.35, n)
    p["cyto_dens"] = rng.uniform(0.85, 1.15, n)
    if cls == "neutrophil":
        p["Rc"] = rng.uniform(0.28, 0.33, n)
        p["lobes"] = _lobed(rng, n, (3, 5), (0.08, 0.11), (0.075, 0.095), (0.055, 0.07), (2.2, 3.4))
        p["n_dens"] = rng.uniform(1.1, 1.3, n)
        p["cyto_abs"] = np.tile([0.12, 0.20, 0.10], (n, 1))
        p["gran_abs"] = np.tile([0.20, 0.32, 0.12], (n, 1))
        p["gran_dens"] = rng.uniform(0.4, 0.7, n)
    elif cls == "eosinophil":
        p["Rc"] = rng.uniform(0.30, 0.35, n)
        p["lobes"] = _lobed(rng, n, (2, 2), (0.08, 0.11), (0.09, 0.11), (0.07, 0.085), (2.0, 2.8))
        p["n_dens"] = rng.uniform(1.0, 1.2, n)
        p["cyto_abs"] = np.tile([0.05, 0.30, 0.45], (n, 1))
        p["gran_abs"] = np.tile([0.05, 0.55, 0.85], (n, 1))
        p["gran_dens"] = rng.uniform(0.8, 1.1, n)
    elif cls == "basophil":
        p["Rc"] = rng.uniform(0.25, 0.29, n)
        p["n_on"][:] = 1
        p["Rn"] = p["Rc"] * rng.uniform(0.6, 0.72, n)
        p["n_amp"] = rng.normal(0, 0.06, (n, 4))
        p["n_ph"] = rng.uniform(0, 2 * np.pi, (n, 4))
        p["n_dens"] = rng.uniform(0.8, 1.0, n)
        p["cyto_abs"] = np.tile([0.25, 0.25, 0.10], (n, 1))
        p["gran_abs"] = np.tile([0.95, 1.25, 0.50], (n, 1))
        p["gran_dens"] = rng.uniform(0.9, 1.3, n)
        p["gran_on_nucleus"][:] = 1
    elif cls == "monocyte":
        p["Rc"] = rng.uniform(0.36, 0.45, n)
        p["n_on"][:] = 1
        p["Rn"] = p["Rc"] * rng.uniform(0.58, 0.68, n)
        off = p["Rc"] * rng.uniform(0.15, 0.25, n)
        ang = rng.uniform(0, 2 * np.pi, n)
        p["n_dx"], p["n_dy"] = off * np.cos(ang), off * np.sin(ang)
        p["n_amp"] = rng.normal(0, 0.04, (n, 4))
        p["n_ph"] = rng.uniform(0, 2 * np.pi, (n, 4))
        p["cleft"] = rng.uniform(0.35, 0.5, n)  # kidney shape, notch towards the centre
        p["cleft_ang"] = ang + np.pi
        p["cleft_w"] = rng.uniform(0.5, 0.7, n)
        p["coarse"][:] = 0.5
        p["fine"][:] = 0.5
        p["n_dens"] = rng.uniform(0.7, 0.85, n)
        p["cyto_abs"] = np.tile([0.30, 0.24, 0.14], (n, 1))
        p["vacuoles"] = rng.uniform(0.3, 0.7, n)
    else:  # pragma: no cover - names are validated by make_blood_cells
        raise ValueError(cls)
    return p


def _sample_scene(rng, p, n, style):
    """Position, red cells, stain and optics nuisance, added to ``p``."""
    p["cx"] = rng.normal(0, 0.05, n)
    p["cy"] = rng.normal(0, 0.05, n)
    rng.uniform(0, 2 * np.pi, n)  # (former orientation draw, kept so the stream stays the same)
    # stain: per-channel hue/saturation jitter and a global strength
    strength = np.exp(rng.normal(0, 0.12, n))[:, None]
    for key in ("nuc_abs", "cyto_abs", "gran_abs"):
        p[key] = p[key] * strength * np.exp(rng.normal(0, 0.08, (n, 3)))
    p["rbc_abs"] = _ABS_RBC * np.exp(rng.normal(0, 0.10, (n, 3))) * np.exp(rng.normal(0, 0.1, n))[:, None]
    p["plasma_abs"] = _ABS_PLASMA * rng.uniform(0.5, 1.6, (n, 1))
    # optics: white point, brightness, linear gradient, low-frequency unevenness
    p["illum"] = 0.95 * np.exp(rng.normal(0, 0.025, (n, 3))) * np.exp(rng.normal(0, 0.04, n))[:, None]
    p["illum"] = np.minimum(p["illum"], 1.0)
    p["grad"] = rng.normal(0, 0.05, (n, 2))
    p["uneven"] = rng.uniform(0.0, 0.04, n)
    p["blur"] = rng.uniform(0.0, 0.9, n)  # focus blur std, pixels at 64 px
    p["noise"] = rng.uniform(0.004, 0.02, n)
    # red cells: 3-8, around the white cell
    rbc = np.zeros((n, MAX_RBC, 8))
    if style == "smear":
        k = rng.integers(3, MAX_RBC + 1, n)
        base = rng.uniform(0, 2 * np.pi, n)
        for j in range(MAX_RBC):
            ang = base + 2 * np.pi * j / np.maximum(k, 1) + rng.normal(0, 0.3, n)
            r = rng.normal(0.235, 0.015, n)
            dist = p["Rc"] + r * rng.uniform(0.8, 2.8, n)
            ecc = rng.uniform(0.92, 1.0, n)
            rbc[:, j] = np.stack([
                p["cx"] + dist * np.cos(ang), p["cy"] + dist * np.sin(ang), r, r * ecc,
                rng.uniform(0, np.pi, n), rng.uniform(0.45, 0.7, n), rng.uniform(0.45, 0.6, n),
                (j < k) * rng.uniform(0.85, 1.15, n),
            ], 1)
    p["rbc"] = rbc
    return p


# ---------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------
def _smooth_noise(rng, n, cells, size):
    """Unit-std value noise ``(n, size, size)`` with ``cells`` random values
    across the image, bilinearly interpolated.  Always draws ``CHUNK`` fields
    so that image ``i`` of a chunk does not depend on the chunk's length."""
    cells = int(max(2, min(cells, size)))
    m = resize_matrix(cells, size)
    f = m @ rng.standard_normal((max(n, CHUNK), cells, cells)).astype(np.float32)[:n] @ m.T
    f -= f.mean(axis=(1, 2), keepdims=True)
    f /= f.std(axis=(1, 2), keepdims=True) + 1e-6
    return f


def _harmonics(dx, dy, r, amps, phases):
    """``sum_i amps[:, i] cos((i + 2) phi + phases[:, i])`` with ``phi`` the
    polar angle of (dx, dy), from the recurrence for cos/sin of k phi."""
    f32 = np.float32
    inv = 1.0 / np.maximum(r, 1e-6)
    c1, s1 = dx * inv, dy * inv
    ck, sk = c1, s1
    total = np.zeros_like(r)
    for i in range(amps.shape[1]):
        ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1  # angle (i + 2) phi
        a = amps[:, i].astype(f32)[:, None, None]
        total += a * np.cos(phases[:, i]).astype(f32)[:, None, None] * ck
        total -= a * np.sin(phases[:, i]).astype(f32)[:, None, None] * sk
    return total


def _soft(sd_units, px):
    """Anti-aliased coverage from a signed distance (positive outside)."""
    return np.clip(0.5 - sd_units / px, 0.0, 1.0)


def _render(p, rng, size, style):
    """Render one chunk of parameters: float32 (n, 3, size, size) in [0, 1]."""
    n = len(p["cx"])
    f32 = np.float32
    zoom = 1.0 if style == "smear" else 0.58  # segmented: the cell fills the frame
    px = 2.0 * zoom / size
    g = ((-1.0 + (np.arange(size) + 0.5) * 2.0 / size) * zoom).astype(f32)
    X, Y = g[None, None, :], g[None, :, None]
    col = lambda a: np.asarray(a, f32).reshape(n, 1, 1)  # noqa: E731

    # cytoplasm outline: a disc with low-order harmonic wobble.  Harmonics
    # cos(k phi + psi) come from (cos phi, sin phi) by the angle-addition
    # recurrence, which avoids arctan2/cos on every pixel.
    dx, dy = X - col(p["cx"]), Y - col(p["cy"])
    r = np.sqrt(dx * dx + dy * dy)
    Rc = col(p["Rc"]) * (1 + _harmonics(dx, dy, r, p["c_amp"], p["c_ph"]))
    cyto = _soft(r - Rc, px)

    # nucleus: harmonic outline with an optional cleft, or a set of lobes
    ndx, ndy = dx - col(p["n_dx"]), dy - col(p["n_dy"])
    nr = np.sqrt(ndx * ndx + ndy * ndy)
    Rn = col(p["Rn"]) * (1 + _harmonics(ndx, ndy, nr, p["n_amp"], p["n_ph"]))
    # cleft: a von Mises notch exp((cos(phi - phi0) - 1) * 2 / w^2) ~ exp(-(dphi / w)^2)
    inv = 1.0 / np.maximum(nr, 1e-6)
    cosd = (ndx * col(np.cos(p["cleft_ang"])) + ndy * col(np.sin(p["cleft_ang"]))) * inv
    Rn = Rn * (1 - col(p["cleft"]) * np.exp((cosd - 1) * col(2.0 / p["cleft_w"] ** 2)))
    nuc = _soft(nr - Rn, px) * col(p["n_on"])
    for j in range(MAX_LOBES):
        on = p["lobes"][:, j, 5]
        if not on.any():
            continue
        lx, ly, la, lb, lr = (col(p["lobes"][:, j, i]) for i in range(5))
        ux, uy = dx - lx, dy - ly
        c, s = np.cos(lr), np.sin(lr)
        u, v = (c * ux + s * uy) / la, (-s * ux + c * uy) / lb
        rho = np.sqrt(u * u + v * v)
        nuc = np.maximum(nuc, _soft((rho - 1) * np.minimum(la, lb), px) * col(on))
    cyto = np.maximum(cyto, nuc)

    # chromatin: coarse clumps (mature) vs fine dispersed (blast), in nucleus units
    coarse = np.tanh(1.5 * _smooth_noise(rng, n, 16 / zoom, size))
    fine = _smooth_noise(rng, n, 44 / zoom, size)
    tex = col(p["coarse"]) * coarse + col(p["fine"]) * fine
    ndens = col(p["n_dens"]) * np.clip(1 + col(p["contrast"]) * tex, 0.2, None)
    for j in range(MAX_NUCLEOLI):
        st = p["nucleoli"][:, j, 3]
        if not st.any():
            continue
        ox, oy, rr = (col(p["nucleoli"][:, j, i]) for i in range(3))
        d2 = ((dx - ox) ** 2 + (dy - oy) ** 2) / (rr * rr)
        ndens = ndens * (1 - col(st) * np.exp(-d2 * d2))

    # cytoplasm density, granules, vacuoles
    cdens = col(p["cyto_dens"]) * (1 + 0.08 * fine)
    if p["vacuoles"].any():
        vac = np.clip((_smooth_noise(rng, n, 22 / zoom, size) - 1.2) * 2.5, 0, 1)
        cdens = cdens * (1 - col(p["vacuoles"]) * vac)
    od = (cyto[:, None] * cdens[:, None] * p["cyto_abs"].astype(f32)[:, :, None, None]
          + (nuc * ndens)[:, None] * p["nuc_abs"].astype(f32)[:, :, None, None])
    if p["gran_dens"].any():
        speck = np.clip((_smooth_noise(rng, n, 0.6 * size, size) - 0.3) * 1.5, 0, 1)
        where = cyto - (1 - col(p["gran_on_nucleus"])) * nuc
        od += (where * speck * col(p["gran_dens"]))[:, None] * p["gran_abs"].astype(f32)[:, :, None, None]

    if style == "smear":
        rbc = render_discs(p["rbc"], size, zoom)
        od += rbc[:, None] * p["rbc_abs"].astype(f32)[:, :, None, None]
        od += p["plasma_abs"].astype(f32)[:, :, None, None] * (1 + 0.3 * _smooth_noise(rng, n, 5, size))[:, None]
        light = 1 + col(p["grad"][:, 0]) * X + col(p["grad"][:, 1]) * Y
        light = light + col(p["uneven"]) * _smooth_noise(rng, n, 4, size)
        img = p["illum"].astype(f32)[:, :, None, None] * light[:, None] * np.exp(-od)
    else:
        img = p["illum"].astype(f32)[:, :, None, None] * np.exp(-od) * cyto[:, None]

    img = gaussian_blur(img, p["blur"] * size / 64.0, mode="reflect")
    # sensor noise: uniform with std p["noise"] (3x cheaper to draw than normal)
    img += (rng.random((max(n, CHUNK),) + img.shape[1:], dtype=f32)[:n] - f32(0.5)) * (col(p["noise"]) * f32(np.sqrt(12.0)))[:, :, :, None]
    return np.clip(img, 0.0, 1.0)


def _render_chunk(seed, cls, chunk, n, size, style, difficulty):
    rng = np.random.default_rng([seed, CLASS_IDS[cls], chunk])
    p = _sample_class(rng, cls, CHUNK, difficulty)
    p = _sample_scene(rng, p, CHUNK, style)
    p = {k: v[:n] for k, v in p.items()}
    # texture/noise stream: per chunk, independent of the parameter draws
    trng = np.random.default_rng([seed, CLASS_IDS[cls], chunk, 1])
    return _render(p, trng, size, style)


def make_blood_cells(n_per_class: int = 130, classes=("healthy", "blast"), size: int = 64, style: str = "smear",
                     difficulty: float = DEFAULT_DIFFICULTY, seed: int = 0, class_counts: dict | None = None,
                     workers: int | None = None) -> Dataset:
    """Render a labelled set of white-blood-cell images.

    Parameters
    ----------
    n_per_class : images per class (ignored for classes listed in ``class_counts``).
    classes : sequence of names from ``CLASS_IDS``, or ``'pbc'`` for the
        five-class Barcelona-PBC-like preset ``PBC_CLASSES``.
    size : 32, 64, 128 or 256 (any size >= 16 works; these are tested).  Sides
        from 8 to 15 are rendered at 16 and area-downsampled (a cell needs about
        16 pixels to be drawn at all).
    style : ``'smear'`` (ALL-IDB2-like) or ``'segmented'`` (C-NMC-like, black background).
    difficulty : 0 (classes far apart) .. 1 (healthy and blast share one
        morphology distribution); acts on the healthy/blast pair.
    seed : int; the same arguments give bit-identical images.
    class_counts : ``{class: n}``, e.g. ``{'healthy': 200, 'blast': 50}`` for imbalance.
    workers : threads rendering chunks (default: ``min(2, cpu count)``).

    Returns
    -------
    Dataset with images ``(N, 3, size, size)`` float32 in [-1, 1], classes in
    the order given, images grouped by class, ``origin = arange(N)``.
    """
    if isinstance(classes, str):
        if classes != "pbc":
            raise UserError(f"unknown class preset {classes!r}; use 'pbc' or a list like ('healthy', 'blast')")
        classes = PBC_CLASSES
    classes = list(classes)
    for c in classes:
        if c not in CLASS_IDS:
            raise UserError(f"unknown cell class {c!r}; known: {', '.join(CLASS_IDS)}")
    if len(set(classes)) != len(classes):
        raise UserError("classes must be distinct")
    if style not in STYLES:
        raise UserError(f"unknown style {style!r}; use 'smear' or 'segmented'")
    if int(size) < 8:
        raise UserError(f"image size {size} too small; use 8 or more (32, 64, 128, 256 are calibrated)")
    if not 0.0 <= float(difficulty) <= 1.0:
        raise UserError(f"difficulty must lie in [0, 1], got {difficulty}")
    counts = {c: int(n_per_class) for c in classes}
    for c, k in (class_counts or {}).items():
        if c not in counts:
            raise UserError(f"class_counts names {c!r}, which is not among classes {classes}")
        counts[c] = int(k)
    if any(k < 0 for k in counts.values()):
        raise UserError("image counts must be >= 0")
    size, render = int(size), max(int(size), MIN_RENDER)
    jobs = [(c, k, min(CHUNK, counts[c] - k * CHUNK)) for c in classes for k in range(-(-counts[c] // CHUNK))]
    run = lambda j: _render_chunk(seed, j[0], j[1], j[2], render, style, difficulty)  # noqa: E731
    workers = workers or min(2, os.cpu_count() or 1)
    if workers > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(workers) as ex:
            parts = list(ex.map(run, jobs))
    else:
        parts = [run(j) for j in jobs]
    imgs = np.concatenate(parts) if parts else np.zeros((0, 3, render, render), np.float32)
    if render != size:
        imgs = resize(imgs, size)
    labels = np.concatenate([np.full(counts[c], i) for i, c in enumerate(classes)]).astype(np.int64)
    return Dataset(
        images=(imgs * 2.0 - 1.0).astype(np.float32), labels=labels, class_names=classes,
        name=f"synthetic {style}",
        meta=dict(generator="refgan.data.make_blood_cells", style=style, size=size, seed=seed,
                  difficulty=float(difficulty), counts=counts),
    )


def make_pbc_cells(n_per_class: int = 100, size: int = 64, seed: int = 0, class_counts=None, **kw) -> Dataset:
    """Five-class PBC-like smear set (neutrophil, eosinophil, basophil,
    lymphocyte, monocyte); see :func:`make_blood_cells`."""
    return make_blood_cells(n_per_class=n_per_class, classes="pbc", size=size, seed=seed, class_counts=class_counts, **kw)
