"""A generated chest-abdomen CT series for demos and benchmarks.

The volume is drawn slice by slice with vectorised numpy from a simple anatomical model
(body outline with skin, fat and muscle; lungs with vessels and airways; heart, aorta and
vena cava with contrast; vertebrae with cortical and cancellous bone; ribs and sternum; liver,
spleen, stomach, kidneys, psoas and bowel below the diaphragm), in Hounsfield units plus
Gaussian noise. Everything is seeded: the same arguments give the same pixels and the same
UIDs, so loading the demo twice stores it once.

Coordinates are DICOM patient coordinates (PS3.3 C.7.6.2.1.1, LPS): +x towards the patient's
left, +y posterior, +z head. Positions below are millimetres; ``t`` runs from 0 at the top
slice (lung apices) to 1 at the bottom slice (lower abdomen).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

DEFAULT_SLICES = 200
DEFAULT_SIZE = 512
DEFAULT_SEED = 20240611
COVERAGE_MM = 400.0  # cranio-caudal extent, whatever the slice count
FIELD_OF_VIEW_MM = 400.0
TOP_SLICE_Z_MM = 50.0
NOISE_SD_HU = 12.0

# Stored values are unsigned 12-bit; HU = stored * slope + intercept (PS3.3 C.11.1.1.2).
RESCALE_INTERCEPT = -1024
RESCALE_SLOPE = 1
MAX_STORED = 4095

# Window presets carried in the header (PS3.3 C.11.2.1.2: multi-valued WindowCenter and
# WindowWidth pair up by position with WindowCenterWidthExplanation).
WINDOW_PRESETS: tuple[tuple[str, float, float], ...] = (
    ("SOFT TISSUE", 40, 400),
    ("LUNG", -600, 1500),
    ("BONE", 400, 1800),
)

PATIENT_NAME = "Demo^Phantom"
PATIENT_ID = "DEMO-CT-0001"
STUDY_DESCRIPTION = "CT CHEST ABDOMEN (generated demo)"
SERIES_DESCRIPTION = "Axial 512 soft tissue (generated)"

# Hounsfield values of the tissues drawn, typical of a portal-venous contrast CT.
HU = {
    "air": -1000,
    "lung": -860,
    "fat": -100,
    "skin": 30,
    "muscle": 50,
    "blood_contrast": 230,
    "myocardium": 90,
    "liver": 65,
    "spleen": 55,
    "kidney_cortex": 160,
    "kidney_medulla": 70,
    "fluid": 10,
    "bowel": 35,
    "disc": 90,
    "cancellous": 230,
    "cortical": 1100,
    "rib": 650,
    "cartilage": 120,
    "csf": 15,
    "table": 180,
}

# The label map: what each pixel is, kept beside the HU image so later structures can be
# drawn only inside earlier ones (vessels only in lung, organs only below the diaphragm).
AIR, BODY, CAVITY_THORAX, CAVITY_ABDOMEN, LUNG, ORGAN, BONE, LIVER, STOMACH = range(9)
INSIDE_BODY = (BODY, CAVITY_THORAX, CAVITY_ABDOMEN, LUNG, ORGAN, BONE, LIVER, STOMACH)
BODY_POWER = 2.4  # of the super-ellipse body outline: boxier than an ellipse


def _smoothstep(edge0: float, edge1: float, t: float) -> float:
    x = min(max((t - edge0) / (edge1 - edge0), 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _bump(start: float, end: float, t: float) -> float:
    """0 outside [start, end], rising to 1 in the middle like half a sine wave."""
    if t <= start or t >= end:
        return 0.0
    return math.sin(math.pi * (t - start) / (end - start))


@dataclass(frozen=True)
class Anatomy:
    """Where the organs are, as functions of ``t``; the tests probe pixels at these points."""

    right_dome_t: float = 0.44  # the liver pushes the right hemidiaphragm higher
    left_dome_t: float = 0.49

    def body_axes(self, t: float) -> tuple[float, float]:
        """Semi-axes (left-right, anterior-posterior) of the body outline."""
        return 150 + 18 * _bump(-0.2, 0.9, t), 105 + 8 * _bump(-0.1, 1.2, t)

    def lung_centre(self, side: int, t: float) -> tuple[float, float]:
        """side -1 is the patient's right, +1 the left."""
        return side * 66.0, 2.0

    def lung_axes(self, t: float) -> tuple[float, float]:
        # The chest wall clips these ellipses, so the lungs take its shape laterally.
        scale = 0.35 + 0.65 * _smoothstep(0.0, 0.28, t)
        return 56 * scale, 86 * scale

    def dome_t(self, side: int) -> float:
        return self.right_dome_t if side < 0 else self.left_dome_t

    def vertebra_centre(self, t: float) -> tuple[float, float]:
        # Thoracic kyphosis then lumbar lordosis: the lumbar spine lies more anterior.
        return 0.0, 50 - 18 * _smoothstep(0.5, 0.95, t)

    def vertebra_radius(self, t: float) -> float:
        return 13 + 7 * _smoothstep(0.35, 0.9, t)

    def disc_level(self, z: float) -> bool:
        """Vertebral levels repeat every 26 mm: 21 mm of bone, then 5 mm of disc."""
        return (TOP_SLICE_Z_MM - z) % 26.0 < 5.0

    def transverse_process_level(self, z: float) -> bool:
        return (TOP_SLICE_Z_MM - z) % 26.0 > 8.0

    def heart_centre(self, t: float) -> tuple[float, float]:
        return 22.0, -20.0

    def heart_axes(self, t: float) -> tuple[float, float]:
        size = _bump(0.25, 0.5, t) ** 0.5
        return 62 * size, 50 * size

    def aorta(self, t: float) -> list[tuple[float, float, float]]:
        """Circles (x, y, radius) of the aorta in this slice: ascending and/or descending."""
        circles = []
        if 0.12 <= t <= 0.30:
            circles.append((-12.0, -30.0, 15.0))
        if t >= 0.115:
            _, vy = self.vertebra_centre(t)
            r = self.vertebra_radius(t)
            x = 18 - 12 * _smoothstep(0.4, 0.8, t)
            circles.append((x, vy - r - 15, 12.0 - 2 * _smoothstep(0.5, 1.0, t)))
        return circles

    def liver_centre(self, t: float) -> tuple[float, float]:
        return -62.0, 4.0

    def liver_axes(self, t: float) -> tuple[float, float]:
        scale = 1.0 - 0.7 * _smoothstep(0.62, 0.82, t)
        return 88 * scale, 80 * scale

    def liver_present(self, t: float) -> bool:
        return t < 0.82

    def kidney_centre(self, side: int, t: float) -> tuple[float, float]:
        _, vy = self.vertebra_centre(t)
        return side * 68.0, vy + 4

    def kidney_axes(self, t: float) -> tuple[float, float]:
        size = _bump(0.64, 0.92, t) ** 0.5
        return 30 * size, 24 * size


ANATOMY = Anatomy()


@dataclass(frozen=True)
class SeriesUIDs:
    study: str
    series: str
    frame_of_reference: str

    def instance(self, index: int) -> str:
        return _uid(self.series, "instance", str(index))


def _uid(*parts: str) -> str:
    # generate_uid hashes the entropy sources into the pydicom UID root (PS3.5 9.1).
    return str(generate_uid(entropy_srcs=["dicom-viewer demo CT", *parts]))


def series_uids(
    slices: int = DEFAULT_SLICES, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED
) -> SeriesUIDs:
    """The UIDs a given phantom will carry; known before any pixel is drawn."""
    key = f"seed={seed} slices={slices} size={size}"
    study = _uid(key, "study")
    return SeriesUIDs(
        study=study,
        series=_uid(key, "series"),
        frame_of_reference=_uid(key, "frame-of-reference"),
    )


@dataclass(frozen=True)
class Geometry:
    slices: int
    size: int

    @property
    def pixel_spacing(self) -> float:
        return FIELD_OF_VIEW_MM / self.size

    @property
    def slice_spacing(self) -> float:
        return COVERAGE_MM / self.slices

    @property
    def first_pixel_xy(self) -> tuple[float, float]:
        """Centre of the top-left pixel (ImagePositionPatient x, y), FOV centred on 0."""
        half = FIELD_OF_VIEW_MM / 2 - self.pixel_spacing / 2
        return -half, -half

    def z(self, index: int) -> float:
        return TOP_SLICE_Z_MM - index * self.slice_spacing

    def t(self, index: int) -> float:
        return index / max(self.slices - 1, 1)


class _Canvas:
    """One slice being drawn: HU values and labels, with bounded-box shape fills."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        n = geometry.size
        x0, y0 = geometry.first_pixel_xy
        self.xs = (x0 + np.arange(n) * geometry.pixel_spacing).astype(np.float32)
        self.ys = (y0 + np.arange(n) * geometry.pixel_spacing).astype(np.float32)
        self.hu = np.full((n, n), HU["air"], dtype=np.float32)
        self.label = np.zeros((n, n), dtype=np.uint8)

    def _window(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float):
        sp = self.geometry.pixel_spacing
        x0, y0 = self.geometry.first_pixel_xy
        n = self.geometry.size
        c0 = max(int((x_lo - x0) / sp) - 1, 0)
        c1 = min(int((x_hi - x0) / sp) + 2, n)
        r0 = max(int((y_lo - y0) / sp) - 1, 0)
        r1 = min(int((y_hi - y0) / sp) + 2, n)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)

    def ellipse_mask(self, cx: float, cy: float, ax: float, ay: float):
        """(window, mask) for an axis-aligned ellipse, or None when it is empty or off-image."""
        if ax <= 0 or ay <= 0:
            return None
        window = self._window(cx - ax, cx + ax, cy - ay, cy + ay)
        if window is None:
            return None
        rows, cols = window
        dx = (self.xs[cols][None, :] - cx) / ax
        dy = (self.ys[rows][:, None] - cy) / ay
        return window, dx * dx + dy * dy <= 1.0

    def fill_ellipse(
        self,
        cx: float,
        cy: float,
        ax: float,
        ay: float,
        hu: float,
        label: int = ORGAN,
        inside: tuple[int, ...] | None = None,
    ) -> None:
        shape = self.ellipse_mask(cx, cy, ax, ay)
        if shape is None:
            return
        window, mask = shape
        if inside is not None:
            allowed = np.zeros(256, dtype=bool)
            allowed[list(inside)] = True
            mask &= allowed[self.label[window]]
        self.hu[window][mask] = hu
        self.label[window][mask] = label

    def fill_rect(
        self, x_lo: float, x_hi: float, y_lo: float, y_hi: float, hu: float, label: int = BONE
    ) -> None:
        window = self._window(x_lo, x_hi, y_lo, y_hi)
        if window is None:
            return
        rows, cols = window
        mask = ((self.xs[cols] >= x_lo) & (self.xs[cols] <= x_hi))[None, :] & (
            (self.ys[rows] >= y_lo) & (self.ys[rows] <= y_hi)
        )[:, None]
        self.hu[window][mask] = hu
        self.label[window][mask] = label


@dataclass(frozen=True)
class _Vessel:
    """A straight, tapering pulmonary vessel segment from (x0, y0, t0) to (x1, y1, t1)."""

    x0: float
    y0: float
    t0: float
    x1: float
    y1: float
    t1: float
    r0: float
    r1: float


class PhantomCT:
    """Draws the slices of one seeded phantom; ``hounsfield(index)`` is the HU image."""

    def __init__(
        self,
        slices: int = DEFAULT_SLICES,
        size: int = DEFAULT_SIZE,
        seed: int = DEFAULT_SEED,
        anatomy: Anatomy = ANATOMY,
    ) -> None:
        if slices < 1 or slices > 2000:
            raise ValueError("slices must be between 1 and 2000")
        if size < 32 or size > 2048:
            raise ValueError("size must be between 32 and 2048")
        self.geometry = Geometry(slices, size)
        self.seed = seed
        self.anatomy = anatomy
        self.uids = series_uids(slices, size, seed)
        rng = np.random.default_rng([seed, 1])
        self._vessels = self._make_vessels(rng)
        # A coarse 3-D random field, interpolated per slice, gives bowel loops and gas that
        # move smoothly from slice to slice.
        self._bowel_field = rng.standard_normal((48, 20, 20)).astype(np.float32)
        self._interp_rows = _linear_interpolation_matrix(20, size)
        x0, y0 = self.geometry.first_pixel_xy
        coords = x0 + np.arange(size, dtype=np.float32) * self.geometry.pixel_spacing
        self._x = coords[None, :]
        self._y = (y0 + np.arange(size, dtype=np.float32) * self.geometry.pixel_spacing)[:, None]
        self._diaphragm = self._diaphragm_map()
        self._noise_bank: np.ndarray | None = None

    def _make_vessels(self, rng: np.random.Generator) -> list[_Vessel]:
        """Large vessels fanning out of each hilum, and many smaller segments that run mostly
        cranio-caudally through the lung, thinner the further they are from the hilum."""
        vessels = []
        anatomy = self.anatomy

        def point_in_lung(side: int, t: float) -> tuple[float, float]:
            cx, cy = anatomy.lung_centre(side, t)
            ax, ay = anatomy.lung_axes(t)
            angle = rng.uniform(0, 2 * math.pi)
            reach = math.sqrt(rng.uniform(0.0, 0.85))
            return cx + ax * reach * math.cos(angle), cy + ay * reach * math.sin(angle)

        for side in (-1, 1):
            hx, hy, ht = side * 36.0, 4.0, 0.30
            bottom = anatomy.dome_t(side) + 0.05
            for _ in range(36):
                t1 = float(rng.uniform(0.08, bottom))
                x1, y1 = point_in_lung(side, t1)
                x1, y1 = hx + 0.6 * (x1 - hx), hy + 0.6 * (y1 - hy)
                vessels.append(_Vessel(hx, hy, ht, x1, y1, t1, 6.0, 2.0))
            for _ in range(260):
                t0 = float(rng.uniform(0.02, bottom))
                x0, y0 = point_in_lung(side, t0)
                t1 = t0 + float(rng.choice([-1, 1]) * rng.uniform(0.04, 0.12))
                outward = math.atan2(y0 - hy, x0 - hx) + rng.normal(0, 0.4)
                drift = float(rng.uniform(5, 20))
                x1, y1 = x0 + drift * math.cos(outward), y0 + drift * math.sin(outward)
                near = math.hypot(x0 - hx, y0 - hy)
                far = math.hypot(x1 - hx, y1 - hy)
                vessels.append(
                    _Vessel(
                        x0,
                        y0,
                        t0,
                        x1,
                        y1,
                        t1,
                        0.8 + 3.0 * math.exp(-near / 45),
                        0.8 + 3.0 * math.exp(-far / 45),
                    )
                )
        return vessels

    def __len__(self) -> int:
        return self.geometry.slices

    def hounsfield(self, index: int) -> np.ndarray:
        """The HU image (float32, rows × columns) of slice ``index``, noise included."""
        if not 0 <= index < self.geometry.slices:
            raise IndexError(f"slice {index} is outside 0..{self.geometry.slices - 1}")
        t, z = self.geometry.t(index), self.geometry.z(index)
        canvas = _Canvas(self.geometry)
        self._draw_table(canvas)
        a, b = self.anatomy.body_axes(t)
        rho = self._draw_body(canvas, t, a, b)
        self._draw_thorax(canvas, t)
        self._draw_abdomen(canvas, t)
        self._draw_great_vessels(canvas, t)
        self._draw_spine(canvas, t, z)
        self._draw_ribs_and_sternum(canvas, t, z, a, b, rho)
        canvas.hu += self._noise(index)
        return canvas.hu

    def _noise(self, index: int) -> np.ndarray:
        """Gaussian noise for one slice: a random crop of a few larger pre-drawn frames,
        which looks the same as fresh noise and costs a fraction of drawing it."""
        size = self.geometry.size
        if self._noise_bank is None:
            rng = np.random.default_rng([self.seed, 2])
            shape = (4, size + size // 2, size + size // 2)
            self._noise_bank = rng.standard_normal(shape, dtype=np.float32) * NOISE_SD_HU
        rng = np.random.default_rng([self.seed, 3, index])
        row, col = rng.integers(0, size // 2, size=2)
        return self._noise_bank[index % 4, row : row + size, col : col + size]

    def stored_values(self, index: int) -> np.ndarray:
        stored = np.rint(self.hounsfield(index) - RESCALE_INTERCEPT) / RESCALE_SLOPE
        return np.clip(stored, 0, MAX_STORED).astype(np.uint16)

    # --- drawing, outside in ---------------------------------------------------------------

    def _draw_table(self, canvas: _Canvas) -> None:
        _, b = self.anatomy.body_axes(0.5)
        top = b * 0.9 + 12
        canvas.fill_rect(-180, 180, top, top + 8, HU["table"], label=AIR)

    def _draw_body(self, canvas: _Canvas, t: float, a: float, b: float) -> np.ndarray:
        """Skin, fat, muscle and the body cavity; returns the body radius to BODY_POWER."""
        # A super-ellipse, flattened at the back where the patient lies on the table. The
        # power is separable, so it is computed on the two axes and summed on the grid;
        # thresholds are raised to the same power instead of taking the root per pixel.
        by = np.where(self._y > 0, b * 0.9, b)
        rho_p = np.abs(self._x / a) ** BODY_POWER + np.abs(self._y / by) ** BODY_POWER
        fat_depth = (10 + 14 * _smoothstep(0.4, 1.0, t)) / b
        muscle_depth = fat_depth + 12 / b
        body = rho_p <= 1.0
        hu, label = canvas.hu, canvas.label
        hu[body] = HU["skin"]
        label[body] = BODY
        hu[rho_p <= (1 - 2.5 / b) ** BODY_POWER] = HU["fat"]
        hu[rho_p <= (1 - fat_depth) ** BODY_POWER] = HU["muscle"]
        cavity = rho_p <= (1 - muscle_depth) ** BODY_POWER
        # Above the diaphragm the cavity is mediastinal fat; below it, abdominal fat.
        hu[cavity] = HU["fat"] + 10
        label[cavity] = CAVITY_THORAX
        label[cavity & (t > self._diaphragm)] = CAVITY_ABDOMEN
        return rho_p

    def _diaphragm_map(self) -> np.ndarray:
        """Per pixel, the ``t`` of the diaphragm: above it is thorax, below it abdomen."""
        anatomy = self.anatomy
        # Each dome is highest in the middle of its hemithorax and lowest at the edges (the
        # costophrenic recesses); the two heights blend across the midline.
        cx, cy = anatomy.lung_centre(1, 0.4)
        ax, ay = anatomy.lung_axes(0.4)
        r2 = ((np.abs(self._x) - cx) / ax) ** 2 + ((self._y - cy) / ay) ** 2
        blend = np.clip((self._x + 30) / 60, 0, 1)
        blend = blend * blend * (3 - 2 * blend)
        right, left = anatomy.dome_t(-1), anatomy.dome_t(1)
        return (right + (left - right) * blend + 0.08 * np.minimum(r2, 1.6)).astype(np.float32)

    def _draw_thorax(self, canvas: _Canvas, t: float) -> None:
        anatomy = self.anatomy
        hu, label = canvas.hu, canvas.label
        for side in (-1, 1):
            cx, cy = anatomy.lung_centre(side, t)
            ax, ay = anatomy.lung_axes(t)
            shape = canvas.ellipse_mask(cx, cy, ax, ay)
            if shape is None:
                continue
            window, mask = shape
            mask &= canvas.label[window] == CAVITY_THORAX
            # Dependent lung (posterior, lying supine) is a little denser.
            gradient = HU["lung"] + 0.4 * (self._y[window[0]] - cy)
            hu[window] = np.where(mask, np.broadcast_to(gradient, mask.shape), hu[window])
            label[window][mask] = LUNG
        self._draw_pulmonary_vessels(canvas, t)
        self._draw_airways(canvas, t)
        hx, hy = anatomy.heart_centre(t)
        hax, hay = anatomy.heart_axes(t)
        if hax > 4:
            canvas.fill_ellipse(hx, hy, hax + 6, hay + 6, HU["fat"], inside=(CAVITY_THORAX, LUNG))
            canvas.fill_ellipse(hx, hy, hax, hay, HU["myocardium"])
            canvas.fill_ellipse(hx + 18, hy + 8, hax * 0.42, hay * 0.45, HU["blood_contrast"])
            canvas.fill_ellipse(hx - 18, hy - 14, hax * 0.4, hay * 0.32, HU["blood_contrast"])

    def _draw_pulmonary_vessels(self, canvas: _Canvas, t: float) -> None:
        for v in self._vessels:
            lo, hi = min(v.t0, v.t1), max(v.t0, v.t1)
            if not lo <= t <= hi or hi - lo < 1e-6:
                continue
            u = (t - v.t0) / (v.t1 - v.t0)
            x = v.x0 + u * (v.x1 - v.x0)
            y = v.y0 + u * (v.y1 - v.y0)
            r = v.r0 + u * (v.r1 - v.r0)
            canvas.fill_ellipse(x, y, r, r, HU["blood_contrast"] - 190, label=LUNG, inside=(LUNG,))

    def _draw_airways(self, canvas: _Canvas, t: float) -> None:
        if t < 0.26:
            canvas.fill_ellipse(0, -8, 11, 10, HU["cartilage"], inside=(CAVITY_THORAX, LUNG))
            canvas.fill_ellipse(0, -8, 9, 8, HU["air"], label=LUNG)
        elif t < 0.34:
            # Main bronchi diverge from the carina towards each hilum.
            spread = (t - 0.26) / 0.08
            for side in (-1, 1):
                x = side * (6 + 30 * spread)
                canvas.fill_ellipse(x, -4, 8, 7, HU["muscle"], inside=(CAVITY_THORAX, LUNG))
                canvas.fill_ellipse(x, -4, 6, 5, HU["air"], label=LUNG)

    def _draw_abdomen(self, canvas: _Canvas, t: float) -> None:
        hu, label = canvas.hu, canvas.label
        abdomen = label == CAVITY_ABDOMEN
        if not abdomen.any():
            return
        field = self._bowel_slice(t)
        bowel = abdomen & (field > 0.15)
        hu[bowel] = HU["bowel"]
        hu[abdomen & (field > 1.0)] = HU["air"] + 80  # gas in the bowel
        anatomy = self.anatomy
        inside = (CAVITY_ABDOMEN,)
        if anatomy.liver_present(t):
            lx, ly = anatomy.liver_centre(t)
            lax, lay = anatomy.liver_axes(t)
            canvas.fill_ellipse(lx, ly, lax, lay, HU["liver"], LIVER, inside)
            for dx, dy in ((-15, -10), (10, 20), (-35, 25)):  # hepatic / portal veins
                canvas.fill_ellipse(
                    lx + dx, ly + dy, 5, 5, HU["blood_contrast"] - 90, LIVER, (LIVER,)
                )
        if t < 0.70:
            shrink = 1 - 0.6 * _smoothstep(0.58, 0.70, t)
            canvas.fill_ellipse(92, 42, 32 * shrink, 52 * shrink, HU["spleen"], inside=inside)
        if t < 0.66:
            # Stomach: a muscular wall round fluid, and (supine) gas rising anteriorly
            # above an air-fluid level.
            canvas.fill_ellipse(45, -38, 42, 32, HU["muscle"], STOMACH, inside)
            canvas.fill_ellipse(45, -38, 37, 27, HU["fluid"], STOMACH, (STOMACH,))
            shape = canvas.ellipse_mask(45, -38, 37, 27)
            if shape is not None:
                window, mask = shape
                level = (self._y[window[0]] < -50) & mask & (label[window] == STOMACH)
                hu[window][level] = HU["air"]
        kax, kay = anatomy.kidney_axes(t)
        if kax > 3:
            for side in (-1, 1):
                kx, ky = anatomy.kidney_centre(side, t)
                canvas.fill_ellipse(kx, ky, kax + 6, kay + 6, HU["fat"], inside=inside)
                canvas.fill_ellipse(kx, ky, kax, kay, HU["kidney_cortex"])
                canvas.fill_ellipse(kx, ky, kax * 0.6, kay * 0.55, HU["kidney_medulla"])
                canvas.fill_ellipse(kx - side * kax * 0.45, ky, kax * 0.3, kay * 0.3, HU["fluid"])
        if t > 0.72:
            _, vy = anatomy.vertebra_centre(t)
            vr = anatomy.vertebra_radius(t)
            grow = _smoothstep(0.72, 1.0, t)
            for side in (-1, 1):  # psoas
                canvas.fill_ellipse(
                    side * (vr + 12), vy + 2, 10 + 10 * grow, 12 + 6 * grow, HU["muscle"]
                )

    def _draw_great_vessels(self, canvas: _Canvas, t: float) -> None:
        anatomy = self.anatomy
        blood = HU["blood_contrast"]
        if 0.12 <= t <= 0.30:
            # Superior vena cava, right of the ascending aorta.
            canvas.fill_ellipse(-34, -22, 10, 10, blood - 40)
        if 0.1 <= t <= 0.13:
            # The arch joins ascending and descending aorta over a few slices.
            for step in np.linspace(0, 1, 9):
                canvas.fill_ellipse(-12 + 30 * step, -30 + 58 * step, 13, 13, blood)
        for x, y, r in anatomy.aorta(t):
            canvas.fill_ellipse(x, y, r, r, blood)
        if t > 0.5:
            # Inferior vena cava, right of the aorta in front of the spine.
            _, vy = anatomy.vertebra_centre(t)
            vr = anatomy.vertebra_radius(t)
            canvas.fill_ellipse(-22, vy - vr - 13, 11, 10, blood - 60)

    def _bowel_slice(self, t: float) -> np.ndarray:
        depth = t * (self._bowel_field.shape[0] - 1)
        k = min(int(depth), self._bowel_field.shape[0] - 2)
        frac = depth - k
        coarse = (1 - frac) * self._bowel_field[k] + frac * self._bowel_field[k + 1]
        return self._interp_rows @ coarse @ self._interp_rows.T

    def _draw_spine(self, canvas: _Canvas, t: float, z: float) -> None:
        anatomy = self.anatomy
        vx, vy = anatomy.vertebra_centre(t)
        r = anatomy.vertebra_radius(t)
        for side in (-1, 1):  # paraspinal muscles
            canvas.fill_ellipse(
                vx + side * 26, vy + r + 20, 20, 18, HU["muscle"], BODY, INSIDE_BODY
            )
        if anatomy.disc_level(z):
            canvas.fill_ellipse(vx, vy, r * 1.15, r, HU["disc"], label=BONE)
        else:
            canvas.fill_ellipse(vx, vy, r * 1.15, r, HU["cortical"], label=BONE)
            canvas.fill_ellipse(vx, vy, r * 1.15 - 2, r - 2, HU["cancellous"], label=BONE)
        canal_y = vy + r + 9
        # Pedicles and lamina as a bony ring round the canal, then spinous and transverse
        # processes.
        canvas.fill_ellipse(vx, canal_y, 13, 12, HU["rib"], label=BONE)
        canvas.fill_ellipse(vx, canal_y, 8, 8, HU["csf"], label=BODY)
        canvas.fill_rect(vx - 3, vx + 3, canal_y + 10, canal_y + 24, HU["rib"])
        if anatomy.transverse_process_level(z):
            canvas.fill_rect(vx - 32, vx + 32, canal_y - 4, canal_y + 3, HU["rib"])

    def _draw_ribs_and_sternum(
        self, canvas: _Canvas, t: float, z: float, a: float, b: float, rho_p: np.ndarray
    ) -> None:
        if t > 0.66:
            return
        # Ribs sit in a ring inside the chest wall muscle; they slope down from back to
        # front, so an axial slice cuts each one as a short arc. Only ring pixels are
        # evaluated.
        rows, cols = np.nonzero((rho_p > 0.8**BODY_POWER) & (rho_p < 0.87**BODY_POWER))
        ys, xs = self._y[rows, 0], self._x[0, cols]
        rho = rho_p[rows, cols] ** (1 / BODY_POWER)
        theta = np.arctan2(ys / b, xs / a)  # 0 at the patient's left side
        slope = 70.0 * (1.0 - np.sin(theta))  # more caudal anteriorly (y < 0)
        phase = np.mod((TOP_SLICE_Z_MM - z) + slope, 24.0)
        rib = phase < 9.0
        front = np.abs(theta + math.pi / 2) < 0.45  # costal cartilage near the sternum
        core = (rho > 0.815) & (rho < 0.855) & (phase > 1.5) & (phase < 7.5)
        values = np.where(front, HU["cartilage"], np.where(core, HU["cancellous"], HU["rib"]))
        canvas.hu[rows[rib], cols[rib]] = values[rib]
        canvas.label[rows[rib], cols[rib]] = BONE
        if 0.06 <= t <= 0.42:
            y_front = -b * 0.83
            canvas.fill_rect(-14, 14, y_front - 5, y_front + 5, HU["rib"])
            canvas.fill_rect(-11, 11, y_front - 2.5, y_front + 2.5, HU["cancellous"])


def _linear_interpolation_matrix(coarse: int, fine: int) -> np.ndarray:
    """A (fine × coarse) matrix that linearly interpolates a coarse axis onto a fine one."""
    positions = np.linspace(0, coarse - 1, fine)
    lower = np.minimum(positions.astype(int), coarse - 2)
    frac = positions - lower
    matrix = np.zeros((fine, coarse), dtype=np.float32)
    matrix[np.arange(fine), lower] = 1 - frac
    matrix[np.arange(fine), lower + 1] = frac
    return matrix


# --- DICOM ------------------------------------------------------------------------------------


def generate_ct_series(
    slices: int = DEFAULT_SLICES, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED
) -> Iterator[Dataset]:
    """Yield the CT Image Storage data sets of the phantom, top slice first."""
    phantom = PhantomCT(slices, size, seed)
    for index in range(slices):
        yield ct_dataset(phantom, index)


def ct_dataset(phantom: PhantomCT, index: int) -> Dataset:
    """One slice as a complete CT Image Storage instance (PS3.3 A.3, CT Image IOD)."""
    geometry, uids = phantom.geometry, phantom.uids
    ds = Dataset()
    sop_uid = uids.instance(index)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.preamble = bytes(128)

    # SOP Common (C.12.1)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = "20240611"
    ds.InstanceCreationTime = "093000"
    # Patient (C.7.1.1)
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19640229"
    ds.PatientSex = "O"
    ds.PatientAge = "060Y"
    # General Study (C.7.2.1)
    ds.StudyInstanceUID = uids.study
    ds.StudyDate = "20240611"
    ds.StudyTime = "092500"
    ds.AccessionNumber = "DEMO0001"
    ds.StudyID = "1"
    ds.ReferringPhysicianName = "Demo^Referrer"
    ds.StudyDescription = STUDY_DESCRIPTION
    # General Series (C.7.3.1)
    ds.Modality = "CT"
    ds.SeriesInstanceUID = uids.series
    ds.SeriesNumber = 2
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.SeriesDate = "20240611"
    ds.SeriesTime = "092800"
    ds.BodyPartExamined = "CHESTABDOMEN"
    ds.PatientPosition = "HFS"
    # Frame of Reference (C.7.4.1)
    ds.FrameOfReferenceUID = uids.frame_of_reference
    ds.PositionReferenceIndicator = ""
    # General Equipment (C.7.5.1)
    ds.Manufacturer = "dicom-viewer"
    ds.ManufacturerModelName = "Generated phantom"
    ds.SoftwareVersions = "1"
    # General Image (C.7.6.1) and CT Image (C.8.2.1)
    ds.InstanceNumber = index + 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.ContentDate = "20240611"
    ds.ContentTime = "092900"
    ds.KVP = 120
    ds.XRayTubeCurrent = 250
    ds.ConvolutionKernel = "STANDARD"
    ds.RescaleIntercept = RESCALE_INTERCEPT
    ds.RescaleSlope = RESCALE_SLOPE
    ds.RescaleType = "HU"
    # Image Plane (C.7.6.2): rows run along +x, columns along +y; z falls as we go down.
    x0, y0 = geometry.first_pixel_xy
    z = geometry.z(index)
    ds.ImagePositionPatient = [round(x0, 4), round(y0, 4), round(z, 4)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [geometry.pixel_spacing, geometry.pixel_spacing]
    ds.SliceThickness = round(geometry.slice_spacing, 4)
    ds.SliceLocation = round(z, 4)
    # Image Pixel (C.7.6.3)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = geometry.size
    ds.Columns = geometry.size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    # VOI LUT (C.11.2)
    ds.WindowCenter = [centre for _, centre, _ in WINDOW_PRESETS]
    ds.WindowWidth = [width for _, _, width in WINDOW_PRESETS]
    ds.WindowCenterWidthExplanation = [name for name, _, _ in WINDOW_PRESETS]
    ds.PixelData = phantom.stored_values(index).tobytes()
    return ds


def write_ct_series(
    directory: Path | str,
    slices: int = DEFAULT_SLICES,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
) -> list[Path]:
    """Write the phantom as Part 10 files ``CT0001.dcm``... into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in generate_ct_series(slices, size, seed):
        # Named by position in the series, never by DICOM text.
        path = directory / f"CT{int(ds.InstanceNumber):04d}.dcm"
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def part10_bytes(ds: Dataset) -> bytes:
    """A data set encoded as a DICOM Part 10 file (PS3.10 7.1), in memory."""
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()
