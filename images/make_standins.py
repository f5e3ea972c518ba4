#!/usr/bin/env python3
"""Draw Beeldpost's stand-in photographs (deterministic, Pillow only).

    python images/make_standins.py [--out DIR]

writes into DIR (default: the folder this script is in):

  wijkgericht-werken-1999.jpg           6400x4267 group portrait, two rows of people
  wijkgericht-werken-1999.figures.json  every person's box (x, y, w, h) at full size
  wijkpost-leekerhoek.jpg               4800x3200 street view of a terraced house

The real archival scans are not ours to publish, so the repository ships these
drawn stand-ins of the same kind. Everything comes from fixed seeds: the same
Pillow version gives the same pixels (and, in practice, the same bytes) every run.
Scenes are drawn at half size and enlarged; film grain is added at full size.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

from PIL import Image, ImageChops, ImageDraw, ImageFilter

K = 0.5  # drawing scale: scenes are drawn at K x the full size, then enlarged

RGB = tuple[int, int, int]


# --------------------------------------------------------------------------- helpers


def clamp8(v: float) -> int:
    return 0 if v < 0 else 255 if v > 255 else int(round(v))


def scale(c: RGB, f: float) -> RGB:
    return tuple(clamp8(v * f) for v in c)  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(clamp8(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def jitter(rng: random.Random, c: RGB, amount: float) -> RGB:
    f = 1 + rng.uniform(-amount, amount)
    return tuple(clamp8(v * f + rng.uniform(-6, 6)) for v in c)  # type: ignore[return-value]


def rand_l(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Uniform random bytes as an L image (deterministic: Random.randbytes)."""
    return Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))


_GAUSS = NormalDist()


def gauss_lut(sigma: float, centre: int = 128) -> list[int]:
    """Maps uniform bytes to a normal distribution with the given sigma (in levels)."""
    return [clamp8(centre + sigma * _GAUSS.inv_cdf((i + 0.5) / 256)) for i in range(256)]


def value_noise(size: tuple[int, int], cell: float, rng: random.Random, contrast: float = 1.0) -> Image.Image:
    """Smooth noise (L, mean ~128): random cells enlarged with bicubic filtering."""
    w, h = size
    sw, sh = max(2, int(w / cell) + 3), max(2, int(h / cell) + 3)
    small = rand_l((sw, sh), rng).point(gauss_lut(40 * contrast))
    big = small.resize((int(sw * cell), int(sh * cell)), Image.BICUBIC)
    return big.crop((int(cell), int(cell), int(cell) + w, int(cell) + h))


def fractal_noise(size, rng, cells=(64, 24, 8), weights=(0.55, 0.3, 0.15)) -> Image.Image:
    out = Image.new("L", size, 128)
    acc = 0.0
    for cell, wgt in zip(cells, weights):
        layer = value_noise(size, cell, rng)
        acc += wgt
        out = Image.blend(out, layer, wgt / acc) if acc > wgt else layer
    return out


def add_signed(img: Image.Image, tex_l: Image.Image, strength: float = 1.0) -> Image.Image:
    """img + strength*(tex - 128), per channel (tex is L)."""
    if strength != 1.0:
        tex_l = tex_l.point(lambda v: clamp8(128 + (v - 128) * strength))
    tex = Image.merge("RGB", (tex_l, tex_l, tex_l)) if img.mode == "RGB" else tex_l
    return ImageChops.add(img, tex, 1.0, -128)


def multiply_l(img: Image.Image, light_l: Image.Image) -> Image.Image:
    return ImageChops.multiply(img, Image.merge("RGB", (light_l,) * 3))


def radial(size, cx, cy, rx, ry, inner=255, outer=0, power=1.0) -> Image.Image:
    """Radial falloff (L) centred at (cx, cy) with radii rx, ry (in pixels)."""
    base = Image.radial_gradient("L")  # 256x256, 0 at centre .. 255 at r=128 (and beyond)
    lut = []
    for i in range(256):
        t = min(1.0, i / 128.0) ** power
        lut.append(clamp8(inner + (outer - inner) * t))
    base = base.point(lut)
    # place: the 256 box covers radius 128 -> scale so that 128 px == rx / ry
    sx, sy = rx / 128.0, ry / 128.0
    big = base.resize((max(1, int(256 * sx)), max(1, int(256 * sy))), Image.BILINEAR)
    out = Image.new("L", size, outer)
    out.paste(big, (int(cx - 128 * sx), int(cy - 128 * sy)))
    return out


def srgb_icc() -> bytes | None:
    """A small sRGB ICC profile (littleCMS built-in) with its creation date pinned,
    so the JPEG bytes do not change from run to run. None if Pillow lacks ImageCms."""
    try:
        from PIL import ImageCms
    except ImportError:
        return None
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = struct.pack(">6H", 1999, 1, 1, 0, 0, 0)
    return bytes(data)


def grain_and_save(img: Image.Image, size: tuple[int, int], path: Path, rng: random.Random,
                   grain: float, chroma: float, quality: int = 90) -> None:
    """Enlarge to full size, add film grain (luminance + a little colour), save JPEG."""
    big = img.resize(size, Image.LANCZOS)
    lum = rand_l(size, rng).point(gauss_lut(grain)).filter(ImageFilter.GaussianBlur(0.55))
    # re-expand the grain the blur took away, keep it centred on 128
    lum = lum.point(lambda v: clamp8(128 + (v - 128) * 2.2))
    big = add_signed(big, lum)
    if chroma > 0:
        small = (size[0] // 2, size[1] // 2)
        chans = []
        for _ in range(3):
            chans.append(rand_l(small, rng).point(gauss_lut(chroma)).resize(size, Image.BILINEAR))
        big = ImageChops.add(big, Image.merge("RGB", chans), 1.0, -128)
    options = {"quality": quality, "subsampling": 2, "optimize": True, "dpi": (300, 300)}
    icc = srgb_icc()
    if icc:
        options["icc_profile"] = icc
    big.save(path, "JPEG", **options)


# A layer: a local mask in which shapes are drawn in FULL-SIZE coordinates and painted
# onto the half-size canvas with volume shading (blurred-mask bevel).


class Layer:
    def __init__(self, x0: float, y0: float, x1: float, y1: float, pad: float = 40):
        self.ox = int(math.floor((x0 - pad) * K))
        self.oy = int(math.floor((y0 - pad) * K))
        w = int(math.ceil((x1 + pad) * K)) - self.ox
        h = int(math.ceil((y1 + pad) * K)) - self.oy
        self.mask = Image.new("L", (max(1, w), max(1, h)), 0)
        self.d = ImageDraw.Draw(self.mask)

    def _p(self, pts):
        return [((x * K) - self.ox, (y * K) - self.oy) for x, y in pts]

    def ellipse(self, box, fill=255):
        x0, y0, x1, y1 = box
        self.d.ellipse(self._p([(x0, y0), (x1, y1)]), fill=fill)
        return self

    def rect(self, box, fill=255, radius=0):
        x0, y0, x1, y1 = box
        p = self._p([(x0, y0), (x1, y1)])
        if radius:
            self.d.rounded_rectangle(p, radius=radius * K, fill=fill)
        else:
            self.d.rectangle(p, fill=fill)
        return self

    def poly(self, pts, fill=255):
        self.d.polygon(self._p(pts), fill=fill)
        return self

    def line(self, pts, width, fill=255, joint="curve"):
        self.d.line(self._p(pts), fill=fill, width=max(1, int(round(width * K))), joint=joint)
        # round caps
        r = width * K / 2
        for x, y in self._p([pts[0], pts[-1]]):
            self.d.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        return self

    def arc(self, box, start, end, width, fill=255):
        x0, y0, x1, y1 = box
        self.d.arc(self._p([(x0, y0), (x1, y1)]), start, end, fill=fill, width=max(1, int(round(width * K))))
        return self

    def cut(self, other: "Layer"):
        """Remove other's mask from this one (both must share the same frame)."""
        self.mask = ImageChops.subtract(self.mask, other.mask)
        self.d = ImageDraw.Draw(self.mask)
        return self

    def clip_to(self, other: "Layer"):
        self.mask = ImageChops.multiply(self.mask, other.mask)
        self.d = ImageDraw.Draw(self.mask)
        return self

    def fade_above(self, y0: float, y1: float):
        """Fade the painted result out above full-size y1 (transparent at y0 and above)."""
        w, h = self.mask.size
        a, b = int(y0 * K) - self.oy, int(y1 * K) - self.oy
        alpha = Image.new("L", (w, h), 255)
        if b > 0:
            ramp = Image.linear_gradient("L").resize((w, max(1, b - a)))
            alpha.paste(0, (0, 0, w, max(0, a)))
            alpha.paste(ramp, (0, a))
        self.alpha = alpha
        return self

    def twin(self) -> "Layer":
        t = Layer.__new__(Layer)
        t.ox, t.oy = self.ox, self.oy
        t.mask = Image.new("L", self.mask.size, 0)
        t.d = ImageDraw.Draw(t.mask)
        return t

    # painting ---------------------------------------------------------------

    def paint(self, canvas: Image.Image | None, color: RGB, *, bevel: float = 30, light=(-0.35, -0.45),
              hi: float = 1.12, lo: float = 0.55, gamma: float = 1.0, texture: Image.Image | None = None,
              tex_strength: float = 0.0, sil: Image.Image | None = None, soften: float = 0.6):
        """Solid colour with rounded-volume shading. bevel: full-size px of the rim."""
        m = self.mask
        if canvas is None:  # silhouette pass: only record where the shape is
            if sil is not None:
                sil.paste(255, (self.ox, self.oy), m)
            return self
        if m.getbbox() is None:
            return self
        r = max(0.5, bevel * K)
        b = m.filter(ImageFilter.GaussianBlur(r))
        dx, dy = int(round(light[0] * r)), int(round(light[1] * r))
        b = ImageChops.offset(b, -dx, -dy)
        lut = [clamp8(255 * ((i / 255) ** gamma)) for i in range(256)]
        shade = b.point(lut)
        a = Image.new("RGB", m.size, scale(color, hi))
        z = Image.new("RGB", m.size, scale(color, lo))
        col = Image.composite(a, z, shade)
        if texture is not None and tex_strength:
            tex = texture.crop((self.ox, self.oy, self.ox + m.size[0], self.oy + m.size[1]))
            col = add_signed(col, tex, tex_strength)
        mask = m.filter(ImageFilter.GaussianBlur(soften)) if soften else m
        if getattr(self, "alpha", None) is not None:
            mask = ImageChops.multiply(mask, self.alpha)
        canvas.paste(col, (self.ox, self.oy), mask)
        if sil is not None:
            sil.paste(255, (self.ox, self.oy), m)
        return self

    def soft(self, canvas: Image.Image | None, color: RGB, opacity: float = 1.0, blur: float = 2.0):
        """Flat colour through a blurred mask (for shadows, make-up of a face, folds)."""
        m = self.mask
        if canvas is None or m.getbbox() is None:
            return self
        if blur:
            m = m.filter(ImageFilter.GaussianBlur(max(0.3, blur * K)))
        if opacity < 1:
            m = m.point(lambda v: clamp8(v * opacity))
        canvas.paste(Image.new("RGB", m.size, color), (self.ox, self.oy), m)
        return self


def soft_shape(canvas, kind, geom, color, opacity, blur, width=0):
    """One-off soft mark: kind in {'ellipse', 'line', 'poly'}; geom in full-size coords."""
    if canvas is None:
        return
    xs = [p[0] for p in geom] if kind != "ellipse" else [geom[0], geom[2]]
    ys = [p[1] for p in geom] if kind != "ellipse" else [geom[1], geom[3]]
    lay = Layer(min(xs), min(ys), max(xs), max(ys), pad=blur * 3 + width + 4)
    if kind == "ellipse":
        lay.ellipse(geom)
    elif kind == "line":
        lay.line(geom, width)
    else:
        lay.poly(geom)
    lay.soft(canvas, color, opacity, blur)


# --------------------------------------------------------------------------- group portrait

GROUP_W, GROUP_H = 6400, 4267

SKIN = [
    (236, 196, 170), (226, 178, 148), (214, 166, 132), (198, 146, 110),
    (176, 124, 90), (150, 102, 72), (118, 78, 56), (232, 188, 158),
]
HAIR = {
    "black": (34, 28, 26), "darkbrown": (62, 44, 32), "brown": (104, 72, 48),
    "auburn": (128, 64, 40), "blond": (192, 160, 108), "grey": (150, 146, 140),
    "salt": (110, 104, 98), "ash": (150, 126, 96),
}


@dataclass
class Person:
    row: str
    position: int
    cx: float
    crown: float
    u: float  # head height (crown to chin), full-size px
    build: float  # shoulder width in head heights
    skin: RGB
    hair: RGB
    hair_style: str
    top: str  # suit, blouse, sweater, cardigan, shirt, polo
    top_color: RGB
    under_color: RGB
    tie: RGB | None
    legs_color: RGB
    skirt: bool
    arms: str  # sides, clasp, lap
    glasses: bool = False
    mustache: bool = False
    beard: bool = False
    necklace: bool = False
    stripes: RGB | None = None
    head_dx: float = 0.0
    seated: bool = False
    light: float = 1.0  # flash fall-off
    box: list[int] = field(default_factory=list)


def build_people(rng: random.Random) -> list[Person]:
    people: list[Person] = []
    # top row: six standing, a step behind
    top_specs = [
        # hair_style, hair, skin, top, top_color, under, tie, legs, skirt, arms, extras
        ("bob", "darkbrown", 1, "blouse", (46, 96, 120), (0, 0, 0), None, (40, 40, 48), False, "sides", {"necklace": True}),
        ("short", "salt", 0, "suit", (58, 62, 72), (226, 230, 236), (122, 30, 40), (52, 54, 62), False, "sides", {"glasses": True}),
        ("curly", "black", 5, "sweater", (120, 36, 44), (232, 232, 226), None, (50, 48, 46), False, "clasp", {}),
        ("long", "blond", 7, "cardigan", (196, 160, 70), (238, 236, 228), None, (36, 40, 60), False, "clasp", {}),
        ("receding", "grey", 2, "suit", (92, 78, 60), (214, 224, 238), (36, 56, 104), (70, 62, 52), False, "sides", {"glasses": True, "mustache": True}),
        ("short", "black", 4, "suit", (34, 40, 62), (236, 238, 240), (150, 120, 60), (34, 38, 54), False, "sides", {"beard": True}),
    ]
    n_top = len(top_specs)
    spacing_top = 890
    for i, spec in enumerate(top_specs):
        hs, hc, sk, top, tc, uc, tie, lc, skirt, arms, extra = spec
        u = 360 * rng.uniform(0.96, 1.04)
        cx = GROUP_W / 2 + (i - (n_top - 1) / 2) * spacing_top + rng.uniform(-30, 30)
        crown = 900 + rng.uniform(-45, 45) + (360 - u) * 6.0
        female = hs in ("bob", "long", "bun")
        p = Person("top", i + 1, cx, crown, u, (1.8 if female else 2.0) * rng.uniform(0.97, 1.03),
                   jitter(rng, SKIN[sk], 0.03), HAIR[hc], hs, top, tc, uc, tie, lc, skirt, arms,
                   head_dx=rng.uniform(-0.05, 0.05) * u, light=0.9, **extra)
        people.append(p)
    # bottom row: five seated, in front
    bottom_specs = [
        ("short", "brown", 3, "shirt", (150, 176, 206), (0, 0, 0), None, (64, 58, 50), False, "lap", {}),
        ("bun", "auburn", 0, "blouse", (126, 70, 120), (0, 0, 0), None, (40, 36, 44), True, "lap", {"necklace": True}),
        ("short", "darkbrown", 1, "sweater", (40, 86, 70), (236, 236, 230), None, (58, 60, 66), False, "lap", {"glasses": True, "stripes": (196, 176, 120)}),
        ("long", "black", 6, "cardigan", (60, 64, 92), (220, 96, 70), None, (36, 36, 40), True, "lap", {}),
        ("receding", "ash", 2, "polo", (200, 200, 190), (0, 0, 0), None, (120, 110, 90), False, "lap", {}),
    ]
    n_bot = len(bottom_specs)
    spacing_bot = 1010
    for i, spec in enumerate(bottom_specs):
        hs, hc, sk, top, tc, uc, tie, lc, skirt, arms, extra = spec
        u = 385 * rng.uniform(0.97, 1.03)
        cx = GROUP_W / 2 + (i - (n_bot - 1) / 2) * spacing_bot + rng.uniform(-25, 25)
        crown = 1850 + rng.uniform(-40, 40) + (385 - u) * 3.0
        female = hs in ("bob", "long", "bun")
        p = Person("bottom", i + 1, cx, crown, u, (1.85 if female else 2.05) * rng.uniform(0.97, 1.03),
                   jitter(rng, SKIN[sk], 0.03), HAIR[hc], hs, top, tc, uc, tie, lc, skirt, arms,
                   head_dx=rng.uniform(-0.05, 0.05) * u, seated=True, light=1.0, **extra)
        people.append(p)
    return people


def draw_person(cv: Image.Image | None, p: Person, sil: Image.Image, fab: Image.Image, rng: random.Random) -> None:
    u, cx = p.u, p.cx
    L = p.light
    crown = p.crown
    chin = crown + u
    hw = 0.78 * u  # head width
    hx = cx + p.head_dx
    sh_y = chin + 0.26 * u  # shoulder line
    Sw = p.build * u
    waist = crown + (2.8 if p.seated else 3.0) * u
    hip = crown + (3.55 if p.seated else 3.85) * u
    ww = Sw * (0.74 if p.hair_style in ("bob", "long", "bun") else 0.8)
    hpw = Sw * (0.8 if p.hair_style in ("bob", "long", "bun") else 0.76)
    skin = scale(p.skin, L)
    top_c = scale(p.top_color, L)
    legs_c = scale(p.legs_color, L)
    hair_c = scale(p.hair, L)
    x0, x1 = cx - Sw, cx + Sw
    female = p.hair_style in ("bob", "long", "bun")

    # legs ------------------------------------------------------------------
    if not p.seated:
        feet = crown + 7.35 * u
        knee = crown + 5.6 * u
        for s in (-1, 1):
            lay = Layer(x0, hip - u, x1, feet + u)
            lay.poly([(cx + s * 0.02 * u, hip - 0.2 * u), (cx + s * hpw / 2, hip - 0.25 * u),
                      (cx + s * (hpw / 2 - 0.05 * u), knee), (cx + s * 0.42 * u, feet - 0.1 * u),
                      (cx + s * 0.14 * u, feet - 0.1 * u), (cx + s * 0.08 * u, knee),
                      (cx + s * 0.03 * u, hip + 0.3 * u)])
            lay.paint(cv, legs_c, bevel=0.12 * u, hi=1.05, lo=0.5, sil=sil, texture=fab, tex_strength=0.4)
            shoe = Layer(x0, feet - u, x1, feet + u)
            shoe.ellipse((cx + s * 0.1 * u - 0.22 * u + s * 0.12 * u, feet - 0.2 * u,
                          cx + s * 0.1 * u + 0.22 * u + s * 0.12 * u, feet + 0.08 * u))
            shoe.paint(cv, scale((30, 26, 24), L), bevel=0.08 * u, hi=1.6, lo=0.6, sil=sil)
    else:
        knee = hip + 0.62 * u
        feet = knee + 1.78 * u
        spread = 0.55 * u
        # the chair: tubular steel legs and the front of a dark seat
        chair_c = scale((44, 44, 50), L)
        for s in (-1, 1):
            leg = Layer(cx - 2 * u, knee - u, cx + 2 * u, feet + u)
            leg.line([(cx + s * 0.92 * u, knee + 0.05 * u), (cx + s * 0.97 * u, feet + 0.02 * u)], 0.07 * u)
            leg.paint(cv, (150, 150, 156), bevel=0.03 * u, hi=1.3, lo=0.45, sil=sil)
        seat = Layer(cx - 2 * u, knee - u, cx + 2 * u, knee + u)
        seat.rect((cx - 1.0 * u, knee - 0.25 * u, cx + 1.0 * u, knee + 0.08 * u), radius=0.06 * u)
        seat.paint(cv, chair_c, bevel=0.05 * u, hi=1.3, lo=0.6, sil=sil)
        # lower legs first (behind the lap)
        for s in (-1, 1):
            kx = cx + s * spread
            lay = Layer(x0, knee - u, x1, feet + u)
            col = legs_c if not p.skirt else scale(mix(p.skin, (60, 50, 50), 0.45), L)
            w_top = 0.27 * u if not p.skirt else 0.2 * u
            w_bot = 0.2 * u if not p.skirt else 0.13 * u
            lay.poly([(kx - w_top, knee), (kx + w_top, knee), (kx + s * 0.04 * u + w_bot, feet - 0.12 * u),
                      (kx + s * 0.04 * u - w_bot, feet - 0.12 * u)])
            lay.paint(cv, col, bevel=0.1 * u, hi=1.08, lo=0.5, sil=sil, texture=fab, tex_strength=0.3)
            shoe = Layer(x0, feet - u, x1, feet + u)
            fx = kx + s * 0.06 * u
            shoe.ellipse((fx - 0.2 * u, feet - 0.2 * u, fx + 0.2 * u, feet + 0.1 * u))
            shoe.paint(cv, scale((28, 24, 24) if not female else (60, 30, 36), L), bevel=0.08 * u,
                       hi=1.7, lo=0.6, sil=sil)
        # lap: thighs coming towards the camera
        lap = Layer(x0, hip - u, x1, knee + u)
        lap.poly([(cx - hpw / 2 - 0.05 * u, hip - 0.35 * u), (cx + hpw / 2 + 0.05 * u, hip - 0.35 * u),
                  (cx + spread + 0.3 * u, knee - 0.1 * u), (cx + spread + 0.25 * u, knee + 0.12 * u),
                  (cx - spread - 0.25 * u, knee + 0.12 * u), (cx - spread - 0.3 * u, knee - 0.1 * u)])
        for s in (-1, 1):
            lap.ellipse((cx + s * spread - 0.3 * u, knee - 0.3 * u, cx + s * spread + 0.3 * u, knee + 0.18 * u))
        lap.paint(cv, legs_c, bevel=0.16 * u, hi=1.12, lo=0.55, sil=sil, texture=fab, tex_strength=0.4)
        # crease between the thighs
        soft_shape(cv, "line", [(cx, hip), (cx, knee)], scale(legs_c, 0.55), 0.5, 0.05 * u, 0.06 * u)

    # long hair behind the shoulders -------------------------------------------
    if p.hair_style in ("long", "bob"):
        lay = Layer(hx - u, crown - u, hx + u, chin + 1.2 * u)
        bottom = chin + (0.75 * u if p.hair_style == "long" else 0.05 * u)
        extra = 0.2 * u if p.hair_style == "long" else 0.13 * u
        lay.rect((hx - hw / 2 - extra, crown + 0.25 * u, hx + hw / 2 + extra, bottom), radius=0.3 * u)
        lay.ellipse((hx - hw / 2 - extra, crown - 0.1 * u, hx + hw / 2 + extra, crown + 0.9 * u))
        lay.paint(cv, scale(hair_c, 0.85), bevel=0.12 * u, hi=1.25, lo=0.55, sil=sil, texture=fab, tex_strength=0.8)

    # torso -------------------------------------------------------------------
    tb = hip + 0.2 * u if not p.seated else hip
    torso = Layer(x0, chin - u, x1, tb + u)
    def side(s):  # neck -> sloping shoulder -> rounded tip -> flank
        return [(cx + s * 0.2 * u, chin + 0.02 * u), (cx + s * (Sw / 2 - 0.34 * u), sh_y - 0.01 * u),
                (cx + s * (Sw / 2 - 0.16 * u), sh_y + 0.05 * u), (cx + s * (Sw / 2 - 0.06 * u), sh_y + 0.15 * u),
                (cx + s * (Sw / 2 - 0.01 * u), sh_y + 0.32 * u), (cx + s * (Sw / 2 - 0.04 * u), sh_y + 0.7 * u),
                (cx + s * (Sw / 2 - 0.12 * u), sh_y + 1.1 * u), (cx + s * ww / 2, waist), (cx + s * hpw / 2, tb)]
    tpts = side(1) + side(-1)[::-1]
    torso.poly(tpts)
    under = p.under_color if p.top in ("cardigan",) else p.top_color
    torso.paint(cv, scale(under, L) if p.top == "cardigan" else top_c, bevel=0.3 * u, hi=1.1, lo=0.55,
                sil=sil, texture=fab, tex_strength=0.5)
    # a few soft folds in the clothing
    for _ in range(4):
        fy0 = rng.uniform(sh_y + 0.8 * u, tb - 0.3 * u)
        fx0 = cx + rng.choice((-1, 1)) * rng.uniform(0.2, 0.45) * Sw
        fold = torso.twin()
        fold.line([(fx0, fy0), (fx0 + rng.uniform(-0.25, 0.25) * u, fy0 + rng.uniform(0.15, 0.35) * u)], 0.035 * u)
        fold.clip_to(torso)
        fold.soft(cv, scale(top_c if p.top != "cardigan" else scale(p.under_color, L), 0.62), 0.35, 0.04 * u)
    if p.stripes:  # a 1990s knit: bands across the chest
        band = torso.twin()
        for k, yy in enumerate((sh_y + 0.7 * u, sh_y + 0.95 * u, sh_y + 1.2 * u)):
            band.rect((x0, yy, x1, yy + (0.13 if k != 1 else 0.08) * u))
        band.clip_to(torso)
        band.paint(cv, scale(p.stripes, L), bevel=0.25 * u, hi=1.05, lo=0.6, texture=fab, tex_strength=0.6)
    # neck --------------------------------------------------------------------
    neck = Layer(hx - u, chin - u, hx + u, chin + u)
    neck.rect((hx - 0.17 * u, chin - 0.35 * u, hx + 0.17 * u, chin + 0.28 * u), radius=0.1 * u)
    neck.paint(cv, scale(skin, 0.86), bevel=0.1 * u, hi=1.05, lo=0.6)
    # neckline details ----------------------------------------------------------
    if p.top == "suit":
        vy = crown + 2.55 * u
        shirt = Layer(x0, chin - u, x1, vy + u)
        shirt.poly([(cx - 0.26 * u, chin + 0.0 * u), (cx + 0.26 * u, chin + 0.0 * u), (cx + 0.02 * u, vy),
                    (cx - 0.02 * u, vy)])
        shirt.paint(cv, scale(p.under_color, L), bevel=0.08 * u, hi=1.05, lo=0.7)
        if p.tie:
            tie = Layer(x0, chin - u, x1, vy + u)
            tie.poly([(cx - 0.06 * u, chin + 0.14 * u), (cx + 0.06 * u, chin + 0.14 * u), (cx + 0.11 * u, vy + 0.05 * u),
                      (cx - 0.11 * u, vy + 0.05 * u)])
            tie.poly([(cx - 0.085 * u, chin + 0.04 * u), (cx + 0.085 * u, chin + 0.04 * u), (cx + 0.05 * u, chin + 0.2 * u),
                      (cx - 0.05 * u, chin + 0.2 * u)])
            tie.clip_to(shirt.twin().poly([(cx - 0.26 * u, chin), (cx + 0.26 * u, chin), (cx + 0.02 * u, vy),
                                          (cx - 0.02 * u, vy)]))
            tie.paint(cv, scale(p.tie, L), bevel=0.05 * u, hi=1.15, lo=0.6)
        # collar points
        for s in (-1, 1):
            soft_shape(cv, "poly", [(cx + s * 0.2 * u, chin - 0.02 * u), (cx + s * 0.03 * u, chin + 0.14 * u),
                                    (cx + s * 0.2 * u, chin + 0.22 * u)], scale(p.under_color, L * 1.05), 1.0, 2)
        # lapels: shadow lines along the V and the notch
        for s in (-1, 1):
            soft_shape(cv, "line", [(cx + s * 0.27 * u, chin + 0.02 * u), (cx + s * 0.03 * u, vy + 0.02 * u)],
                       scale(top_c, 0.45), 0.8, 0.025 * u, 0.04 * u)
            soft_shape(cv, "line", [(cx + s * 0.3 * u, chin + 0.1 * u), (cx + s * 0.5 * u, crown + 1.85 * u),
                                    (cx + s * 0.12 * u, vy - 0.1 * u)], scale(top_c, 0.55), 0.55, 0.03 * u, 0.03 * u)
        for k in range(2):
            soft_shape(cv, "ellipse", (cx - 0.045 * u, vy + (0.3 + 0.32 * k) * u, cx + 0.045 * u, vy + (0.39 + 0.32 * k) * u),
                       scale(top_c, 0.4), 0.9, 0.01 * u)
    elif p.top in ("blouse", "polo", "shirt"):
        if p.top == "blouse":
            opening = Layer(x0, chin - u, x1, chin + 2 * u)
            opening.poly([(cx - 0.25 * u, chin - 0.05 * u), (cx + 0.25 * u, chin - 0.05 * u), (cx, chin + 0.6 * u)])
            opening.ellipse((cx - 0.25 * u, chin - 0.2 * u, cx + 0.25 * u, chin + 0.3 * u))
            opening.paint(cv, scale(skin, 0.9), bevel=0.06 * u, hi=1.02, lo=0.75)
            if p.necklace:
                soft_shape(cv, "line", [(cx - 0.22 * u, chin + 0.05 * u), (cx - 0.12 * u, chin + 0.3 * u),
                                        (cx, chin + 0.38 * u), (cx + 0.12 * u, chin + 0.3 * u),
                                        (cx + 0.22 * u, chin + 0.05 * u)], (236, 226, 200), 0.9, 0.01 * u, 0.025 * u)
            for s in (-1, 1):  # soft collar edge
                soft_shape(cv, "line", [(cx + s * 0.28 * u, chin - 0.02 * u), (cx, chin + 0.62 * u)],
                           scale(top_c, 0.6), 0.6, 0.02 * u, 0.03 * u)
        else:
            # open collar with a short placket
            for s in (-1, 1):
                lay = Layer(x0, chin - u, x1, chin + u)
                lay.poly([(cx + s * 0.22 * u, chin - 0.08 * u), (cx + s * 0.02 * u, chin + 0.25 * u),
                          (cx + s * 0.3 * u, chin + 0.3 * u), (cx + s * 0.3 * u, chin + 0.05 * u)])
                lay.paint(cv, scale(p.top_color, L * 1.05), bevel=0.05 * u, hi=1.08, lo=0.6)
            soft_shape(cv, "poly", [(cx - 0.14 * u, chin + 0.0 * u), (cx + 0.14 * u, chin), (cx, chin + 0.24 * u)],
                       scale(skin, 0.8), 1.0, 2)
            soft_shape(cv, "line", [(cx, chin + 0.25 * u), (cx, crown + 3.0 * u)], scale(top_c, 0.7), 0.5, 0.02 * u, 0.02 * u)
            nb = 2 if p.top == "polo" else 5
            for k in range(nb):
                yb = chin + (0.42 + k * 0.42) * u
                soft_shape(cv, "ellipse", (cx - 0.03 * u, yb, cx + 0.03 * u, yb + 0.06 * u), scale(top_c, 1.2), 0.9, 0.005 * u)
    elif p.top == "sweater":
        for s in (-1, 1):
            soft_shape(cv, "poly", [(cx + s * 0.2 * u, chin - 0.04 * u), (cx + s * 0.02 * u, chin + 0.16 * u),
                                    (cx + s * 0.2 * u, chin + 0.24 * u)], scale(p.under_color, L), 1.0, 2)
        rib = Layer(x0, chin - u, x1, chin + u)
        rib.arc((cx - 0.32 * u, chin - 0.38 * u, cx + 0.32 * u, chin + 0.3 * u), 15, 165, 0.09 * u)
        rib.paint(cv, scale(top_c, 0.95), bevel=0.04 * u, hi=1.05, lo=0.7, soften=1.0)
    elif p.top == "cardigan":
        cc = scale(p.top_color, L)
        for s in (-1, 1):
            panel = torso.twin()
            panel.poly([(cx + s * 0.22 * u, chin), (cx + s * 0.1 * u, crown + 2.2 * u), (cx + s * 0.06 * u, tb + 0.1 * u),
                        (cx + s * Sw, tb + 0.1 * u), (cx + s * Sw, chin - 0.3 * u)])
            panel.clip_to(torso)
            panel.paint(cv, cc, bevel=0.18 * u, hi=1.1, lo=0.55, texture=fab, tex_strength=0.6)
        soft_shape(cv, "poly", [(cx - 0.2 * u, chin - 0.04 * u), (cx + 0.2 * u, chin - 0.04 * u), (cx, chin + 0.28 * u)],
                   scale(skin, 0.88), 1.0, 2)

    # arms ----------------------------------------------------------------------
    arm_c = scale(p.top_color, L)
    for s in (-1, 1):
        shoulder = (cx + s * (Sw / 2 - 0.22 * u), sh_y + 0.32 * u)
        elbow = (cx + s * (Sw / 2 - 0.1 * u), waist - 0.1 * u)
        if p.arms == "sides":
            wrist = (cx + s * (Sw / 2 - 0.14 * u), hip + 0.15 * u)
        elif p.arms == "clasp":
            wrist = (cx + s * 0.16 * u, hip - 0.05 * u)
        else:  # lap
            elbow = (cx + s * (Sw / 2 - 0.06 * u), waist - 0.05 * u)
            wrist = (cx + s * 0.18 * u, hip + 0.12 * u)
        arm = Layer(x0, chin - u, x1, hip + 2 * u)
        arm.line([shoulder, elbow], 0.42 * u)
        arm.line([elbow, wrist], 0.34 * u)
        arm.fade_above(sh_y + 0.2 * u, sh_y + 0.75 * u)
        arm.paint(cv, arm_c, bevel=0.12 * u, hi=1.1, lo=0.5, sil=sil, texture=fab, tex_strength=0.5)
        # sleeve fold at the elbow
        soft_shape(cv, "line", [(elbow[0] - s * 0.15 * u, elbow[1] - 0.05 * u), (elbow[0] + s * 0.05 * u, elbow[1] + 0.06 * u)],
                   scale(arm_c, 0.6), 0.5, 0.03 * u, 0.03 * u)
    # hands (drawn after both arms so clasped hands overlap)
    if p.arms == "sides":
        for s in (-1, 1):
            wx, wy = cx + s * (Sw / 2 - 0.14 * u), hip + 0.15 * u
            box = (wx - 0.12 * u, wy - 0.04 * u, wx + 0.12 * u, wy + 0.46 * u)
            hand = Layer(*box)
            hand.rect(box, radius=0.09 * u)
            hand.paint(cv, skin, bevel=0.06 * u, hi=1.08, lo=0.6, sil=sil)
    else:
        wy = hip - 0.05 * u if p.arms == "clasp" else hip + 0.12 * u
        back = (cx - 0.32 * u, wy - 0.11 * u, cx + 0.08 * u, wy + 0.13 * u)
        front = (cx - 0.08 * u, wy - 0.06 * u, cx + 0.34 * u, wy + 0.19 * u)
        for box in (back, front):
            hand = Layer(*box)
            hand.rect(box, radius=0.08 * u)
            hand.paint(cv, skin, bevel=0.05 * u, hi=1.08, lo=0.62, sil=sil)
        for k in range(3):  # fingers of the upper hand
            fx = cx + (0.05 + 0.08 * k) * u
            soft_shape(cv, "line", [(fx, wy + 0.03 * u), (fx + 0.02 * u, wy + 0.18 * u)], scale(skin, 0.6), 0.45,
                       0.008 * u, 0.012 * u)

    # head ------------------------------------------------------------------
    # shadow of the chin on the neck
    soft_shape(cv, "ellipse", (hx - 0.2 * u, chin - 0.12 * u, hx + 0.2 * u, chin + 0.1 * u), scale(skin, 0.5), 0.5, 0.04 * u)
    for s in (-1, 1):  # ears
        ear = Layer(hx - u, crown, hx + u, chin)
        ex = hx + s * (hw / 2 - 0.01 * u)
        ear.ellipse((ex - 0.07 * u, crown + 0.4 * u, ex + 0.07 * u, crown + 0.67 * u))
        ear.paint(cv, scale(skin, 0.95), bevel=0.03 * u, hi=1.05, lo=0.65)
    head = Layer(hx - u, crown - u, hx + u, chin + u)
    head.ellipse((hx - hw / 2, crown, hx + hw / 2, chin))
    # the jaw: a little squarer for some
    head.ellipse((hx - hw / 2 + 0.04 * u, crown + 0.3 * u, hx + hw / 2 - 0.04 * u, chin + 0.01 * u))
    head.paint(cv, skin, bevel=0.14 * u, hi=1.06, lo=0.58, sil=sil, light=(-0.5, -0.6))
    # face: the flash on forehead and cheekbones, then soft features
    soft_shape(cv, "ellipse", (hx - 0.2 * u, crown + 0.12 * u, hx + 0.1 * u, crown + 0.34 * u), scale(skin, 1.25), 0.35, 0.07 * u)
    ey = crown + 0.5 * u
    for s in (-1, 1):
        ex = hx + s * 0.155 * u
        soft_shape(cv, "ellipse", (ex - 0.12 * u, ey - 0.07 * u, ex + 0.12 * u, ey + 0.06 * u), scale(skin, 0.7), 0.35, 0.04 * u)
        soft_shape(cv, "ellipse", (ex - 0.06 * u, ey - 0.03 * u, ex + 0.06 * u, ey + 0.03 * u), (228, 222, 214), 0.35, 0.01 * u)
        soft_shape(cv, "ellipse", (ex - 0.035 * u, ey - 0.03 * u, ex + 0.035 * u, ey + 0.03 * u), (44, 34, 30), 0.8, 0.01 * u)
        soft_shape(cv, "ellipse", (ex - 0.016 * u, ey - 0.01 * u, ex + 0.004 * u, ey + 0.006 * u), (230, 230, 230), 0.3, 0.004 * u)
        soft_shape(cv, "line", [(hx + s * 0.07 * u, ey - 0.085 * u), (hx + s * 0.17 * u, ey - 0.11 * u),
                                (hx + s * 0.25 * u, ey - 0.085 * u)], scale(hair_c, 1.0), 0.55, 0.012 * u, 0.028 * u)
        soft_shape(cv, "ellipse", (hx + s * 0.17 * u - 0.08 * u, crown + 0.62 * u, hx + s * 0.17 * u + 0.08 * u,
                                   crown + 0.74 * u), mix(skin, (200, 90, 80), 0.35), 0.25, 0.04 * u)
    soft_shape(cv, "line", [(hx + 0.035 * u, ey + 0.02 * u), (hx + 0.05 * u, crown + 0.69 * u)], scale(skin, 0.7), 0.45, 0.02 * u, 0.03 * u)
    soft_shape(cv, "ellipse", (hx - 0.07 * u, crown + 0.67 * u, hx + 0.07 * u, crown + 0.72 * u), scale(skin, 0.55), 0.45, 0.012 * u)
    soft_shape(cv, "ellipse", (hx - 0.03 * u, crown + 0.56 * u, hx - 0.0 * u, crown + 0.64 * u), scale(skin, 1.15), 0.5, 0.015 * u)
    my = crown + 0.8 * u
    lip = mix(skin, (150, 60, 60), 0.35 if not female else 0.55)
    soft_shape(cv, "ellipse", (hx - 0.11 * u, my - 0.02 * u, hx + 0.11 * u, my + 0.035 * u), lip, 0.6, 0.01 * u)
    soft_shape(cv, "line", [(hx - 0.1 * u, my + 0.0 * u), (hx, my + 0.012 * u), (hx + 0.1 * u, my + 0.0 * u)],
               scale(skin, 0.45), 0.6, 0.006 * u, 0.014 * u)
    if p.mustache:
        soft_shape(cv, "ellipse", (hx - 0.13 * u, my - 0.08 * u, hx + 0.13 * u, my - 0.005 * u), hair_c, 0.85, 0.015 * u)
    if p.beard:
        bd = Layer(hx - u, crown, hx + u, chin + u)
        bd.ellipse((hx - hw / 2, crown + 0.2 * u, hx + hw / 2, chin + 0.02 * u))
        bd.rect((hx - u, crown, hx + u, crown + 0.66 * u), fill=0)
        bd.ellipse((hx - 0.12 * u, my - 0.03 * u, hx + 0.12 * u, my + 0.05 * u), fill=0)
        bd.soft(cv, hair_c, 0.75, 0.03 * u)
        soft_shape(cv, "ellipse", (hx - 0.13 * u, my - 0.08 * u, hx + 0.13 * u, my - 0.005 * u), hair_c, 0.7, 0.015 * u)
    if p.glasses:
        g = Layer(hx - u, crown, hx + u, chin)
        for s in (-1, 1):
            ex = hx + s * 0.155 * u
            g.d.rounded_rectangle(g._p([(ex - 0.115 * u, ey - 0.075 * u), (ex + 0.115 * u, ey + 0.085 * u)]),
                                  radius=0.05 * u * K, outline=255, width=max(1, int(0.022 * u * K)))
        g.line([(hx - 0.045 * u, ey - 0.03 * u), (hx + 0.045 * u, ey - 0.03 * u)], 0.02 * u)
        g.soft(cv, (40, 34, 30), 0.85, 0.004 * u)
        for s in (-1, 1):  # the flash in the lenses
            ex = hx + s * 0.155 * u
            soft_shape(cv, "ellipse", (ex - 0.07 * u, ey - 0.06 * u, ex - 0.02 * u, ey - 0.03 * u), (255, 255, 250), 0.55, 0.012 * u)

    # hair on top -------------------------------------------------------------
    hs = p.hair_style
    cap = Layer(hx - u, crown - u, hx + u, chin + u)
    cut = cap.twin()
    if hs == "short":
        part = rng.uniform(-0.08, 0.08) * u
        cap.ellipse((hx - hw / 2 - 0.025 * u, crown - 0.07 * u, hx + hw / 2 + 0.025 * u, crown + 0.9 * u))
        cut.ellipse((hx - hw / 2 + 0.03 * u + part, crown + 0.2 * u, hx + hw / 2 - 0.03 * u + part, chin + 0.35 * u))
        cut.rect((hx - u, crown + 0.46 * u, hx + u, chin + u))
    elif hs == "receding":
        cap.ellipse((hx - hw / 2 - 0.03 * u, crown + 0.02 * u, hx + hw / 2 + 0.03 * u, crown + 0.95 * u))
        cut.ellipse((hx - hw / 2 + 0.05 * u, crown - 0.1 * u, hx + hw / 2 - 0.05 * u, chin + 0.2 * u))
        cut.rect((hx - u, crown + 0.56 * u, hx + u, chin + u))
    elif hs == "curly":
        cap.ellipse((hx - hw / 2 - 0.1 * u, crown - 0.16 * u, hx + hw / 2 + 0.1 * u, crown + 0.95 * u))
        for k in range(26):
            a = math.pi * (k / 25)
            bx = hx - math.cos(a) * (hw / 2 + 0.06 * u)
            by = crown + 0.42 * u - math.sin(a) * 0.56 * u
            r = 0.07 * u * rng.uniform(0.8, 1.2)
            cap.ellipse((bx - r, by - r, bx + r, by + r))
        cut.ellipse((hx - hw / 2 + 0.06 * u, crown + 0.25 * u, hx + hw / 2 - 0.06 * u, chin + 0.5 * u))
        cut.rect((hx - u, crown + 0.52 * u, hx + u, chin + u))
    elif hs == "bun":
        cap.ellipse((hx - hw / 2 - 0.03 * u, crown - 0.05 * u, hx + hw / 2 + 0.03 * u, crown + 0.9 * u))
        cap.ellipse((hx - 0.2 * u, crown - 0.28 * u, hx + 0.2 * u, crown + 0.1 * u))
        cut.ellipse((hx - hw / 2 + 0.05 * u, crown + 0.22 * u, hx + hw / 2 - 0.05 * u, chin + 0.5 * u))
        cut.rect((hx - u, crown + 0.55 * u, hx + u, chin + u))
    else:  # bob, long: full sides with a fringe
        extra = 0.2 * u if hs == "long" else 0.13 * u
        cap.ellipse((hx - hw / 2 - extra * 0.7, crown - 0.1 * u, hx + hw / 2 + extra * 0.7, crown + 1.0 * u))
        cap.rect((hx - hw / 2 - extra * 0.7, crown + 0.45 * u, hx + hw / 2 + extra * 0.7, chin + 0.05 * u))
        cut.ellipse((hx - hw / 2 + 0.06 * u, crown + 0.27 * u, hx + hw / 2 - 0.06 * u, chin + 0.55 * u))
        cut.poly([(hx - hw / 2 + 0.07 * u, crown + 0.4 * u), (hx - 0.05 * u, crown + 0.18 * u), (hx + 0.2 * u, crown + 0.3 * u)])
    cap.cut(cut)
    cap.paint(cv, hair_c, bevel=0.1 * u, hi=1.35, lo=0.55, sil=sil, texture=fab, tex_strength=1.0, light=(-0.6, -0.7))
    # a soft highlight (flash) on the hair
    hl_lay = cap.twin()
    hl_lay.ellipse((hx - 0.25 * u, crown - 0.05 * u, hx + 0.05 * u, crown + 0.18 * u))
    hl_lay.clip_to(cap)
    hl_lay.soft(cv, scale(mix(hair_c, (255, 255, 255), 0.35), 1.0), 0.35, 0.05 * u)

    # bounding box: hair top to waist (standing) or lap (seated), shoulders/arms
    top_y = crown - (0.3 * u if hs == "bun" else 0.18 * u)
    bot_y = (hip + 0.2 * u) if not p.seated else (knee - 0.1 * u)
    left = cx - Sw / 2 - 0.18 * u
    right = cx + Sw / 2 + 0.18 * u
    bx0, by0 = max(0, int(round(left))), max(0, int(round(top_y)))
    bx1, by1 = min(GROUP_W, int(round(right))), min(GROUP_H, int(round(bot_y)))
    p.box = [bx0, by0, bx1 - bx0, by1 - by0]


def group_portrait(out: Path) -> dict:
    rng = random.Random(19990412)
    W, H = int(GROUP_W * K), int(round(GROUP_H * K))
    floor_y = 3250  # where the wall meets the floor (full size)

    # wall: pale buff brick, stretcher bond ---------------------------------------
    wall = Image.new("RGB", (W, H), (168, 160, 146))  # mortar
    bricks = Image.new("L", (W, H), 0)
    bd = ImageDraw.Draw(wall)
    md = ImageDraw.Draw(bricks)
    bh, bw, mortar = 80, 330, 18
    row = 0
    y = -20.0
    palette = [(190, 170, 138), (184, 162, 128), (196, 178, 146), (178, 156, 124), (170, 146, 116)]
    while y < floor_y:
        off = -bw / 2 if row % 2 else 0.0
        x = off - rng.uniform(0, 8)
        while x < GROUP_W:
            c = jitter(rng, palette[rng.randrange(len(palette))], 0.035)
            if rng.random() < 0.05:
                c = scale(c, 0.9)
            x0, y0, x1, y1 = x + mortar / 2, y + mortar / 2, x + bw - mortar / 2, y + bh - mortar / 2
            r = (x0 * K, y0 * K, x1 * K, y1 * K)
            bd.rounded_rectangle(r, radius=2, fill=c)
            md.rounded_rectangle(r, radius=2, fill=255)
            x += bw + rng.uniform(-2, 2)
        y += bh + mortar
        row += 1
    # bevel: bricks a little lighter at their faces, darker towards joints
    bev = bricks.filter(ImageFilter.GaussianBlur(3))
    bev = ImageChops.offset(bev, 1, 1).point(lambda v: clamp8(170 + v * 0.33))
    wall = multiply_l(wall, bev)
    wall = add_signed(wall, fractal_noise((W, H), rng, cells=(90, 20, 4), weights=(0.4, 0.35, 0.25)), 0.3)
    speck = rand_l((W, H), rng).point(gauss_lut(9))
    wall = add_signed(wall, speck, 1.0)
    # the wall is a metre behind the people: a touch out of focus
    wall = wall.filter(ImageFilter.GaussianBlur(1.3))

    # floor: blue-grey carpet tiles and a skirting board -------------------------------
    fy = int(floor_y * K)
    floor = Image.new("RGB", (W, H - fy), (86, 90, 100))
    fd = ImageDraw.Draw(floor)
    for k in range(-10, 12):  # tile seams converging on the vanishing point
        xa = W / 2 + k * 0.12 * W
        xb = W / 2 + k * 0.19 * W
        fd.line([(xa, 0), (xb, H - fy)], fill=(74, 78, 88), width=2)
    for yy in (0.28, 0.68):
        fd.line([(0, (H - fy) * yy), (W, (H - fy) * yy)], fill=(76, 80, 90), width=2)
    floor = add_signed(floor, fractal_noise(floor.size, rng, cells=(40, 6, 2), weights=(0.3, 0.3, 0.4)), 0.5)
    # carpet gets lighter towards the camera (closer to the flash)
    fgrad = Image.linear_gradient("L").resize(floor.size).point(lambda v: clamp8(190 + v * 0.25))
    floor = multiply_l(floor, fgrad)
    floor = ImageChops.add(floor, Image.new("RGB", floor.size, (14, 14, 14)))
    wall.paste(floor, (0, fy))
    skirting = Layer(0, floor_y - 110, GROUP_W, floor_y + 10)
    skirting.rect((-100, floor_y - 105, GROUP_W + 100, floor_y + 4))
    skirting.paint(wall, (112, 100, 88), bevel=20, hi=1.1, lo=0.6)
    cv = wall

    # a corner of a notice board on the left wall, for scale (no text)
    board = Layer(-200, 380, 520, 1500)
    board.rect((-200, 400, 480, 1460))
    board.paint(cv, (150, 110, 70), bevel=18, hi=1.15, lo=0.55)
    cork = Layer(-200, 430, 450, 1430)
    cork.rect((-200, 440, 440, 1420))
    cork.paint(cv, (176, 136, 92), bevel=10, hi=1.05, lo=0.8)
    for (px0, py0, px1, py1, pc) in [(40, 520, 300, 880, (236, 232, 220)), (160, 960, 420, 1300, (230, 214, 120)),
                                     (-100, 1000, 120, 1340, (220, 226, 236))]:
        sheet = Layer(px0, py0, px1, py1)
        sheet.rect((px0, py0, px1, py1))
        sheet.paint(cv, pc, bevel=6, hi=1.03, lo=0.85)
        for ly in range(int(py0 + 60), int(py1 - 40), 34):  # lines of "type" seen from afar: grey smudges
            soft_shape(cv, "line", [(px0 + 30, ly), (px1 - 30 - rng.uniform(0, 80), ly)], (150, 150, 150), 0.35, 6, 8)
        soft_shape(cv, "ellipse", ((px0 + px1) / 2 - 12, py0 + 8, (px0 + px1) / 2 + 12, py0 + 32), (200, 40, 40), 0.9, 2)

    # a potted plant at the right
    plant_sil = Image.new("L", (W, H), 0)
    pot = Layer(5980, 2900, 6500, 3500)
    pot.poly([(6010, 2960), (6460, 2960), (6420, 3440), (6050, 3440)])
    pot.paint(cv, (170, 84, 52), bevel=40, hi=1.15, lo=0.55, sil=plant_sil)
    leaf_c = [(52, 96, 48), (64, 112, 56), (40, 80, 40), (76, 120, 60)]
    for k in range(70):
        a = rng.uniform(-2.6, -0.5)
        ln = rng.uniform(400, 1300)
        bx = 6230 + rng.uniform(-60, 60)
        by = 2960
        tx, ty = bx + math.cos(a) * ln, by + math.sin(a) * ln
        leaf = Layer(min(bx, tx) - 200, min(by, ty) - 200, max(bx, tx) + 200, max(by, ty) + 200)
        # a long, curved, pointed leaf (dracaena-like): a lens along a bent spine
        bend = rng.uniform(-0.5, 0.5)
        wmax = rng.uniform(45, 75)
        nx, ny = -math.sin(a), math.cos(a)
        left, right = [], []
        for j in range(13):
            t = j / 12
            sx = bx + math.cos(a) * ln * t + nx * bend * ln * 0.25 * math.sin(math.pi * t) + 0 * t
            sy = by + math.sin(a) * ln * t + ny * bend * ln * 0.25 * math.sin(math.pi * t) + 260 * t * t
            wdt = wmax * math.sin(math.pi * min(1.0, t * 1.05)) ** 0.8 + 4
            left.append((sx + nx * wdt, sy + ny * wdt))
            right.append((sx - nx * wdt, sy - ny * wdt))
        leaf.poly(left + right[::-1])
        leaf.paint(cv, jitter(rng, leaf_c[k % 4], 0.12), bevel=22, hi=1.35, lo=0.5, sil=plant_sil)

    people = build_people(rng)
    fab = fractal_noise((W, H), rng, cells=(6, 2.5, 1.2), weights=(0.25, 0.35, 0.4)).point(lambda v: clamp8(128 + (v - 128) * 0.35))

    def flash_shadow(sil: Image.Image, strength: float, off=(34, 46), blur=28):
        sh = sil.filter(ImageFilter.GaussianBlur(blur * K))
        sh = ImageChops.offset(sh, int(off[0] * K), int(off[1] * K))
        sh = sh.point(lambda v: clamp8(v * strength))
        return Image.composite(Image.new("RGB", (W, H), (30, 28, 30)), cv, sh)

    # plant shadow
    cv = flash_shadow(plant_sil, 0.45)
    # back row: silhouettes first (for the flash shadow on the wall), then draw
    sil_top = Image.new("L", (W, H), 0)
    for p in people:
        if p.row == "top":
            draw_person(None, p, sil_top, fab, random.Random(p.position * 31 + 7))
    cv = flash_shadow(sil_top, 0.62, off=(40, 60))
    for p in people:
        if p.row == "top":
            draw_person(cv, p, Image.new("L", (W, H), 0), fab, random.Random(p.position * 31 + 7))
    # front row throws a softer shadow onto the back row and the wall
    sil_bot = Image.new("L", (W, H), 0)
    for p in people:
        if p.row == "bottom":
            draw_person(None, p, sil_bot, fab, random.Random(p.position * 17 + 3))
    cv = flash_shadow(sil_bot, 0.5, off=(30, 40), blur=36)
    for p in people:
        if p.row == "bottom":
            draw_person(cv, p, Image.new("L", (W, H), 0), fab, random.Random(p.position * 17 + 3))

    # photographic finish: flash fall-off, lens softness, colour, vignette ------------
    light = radial((W, H), W * 0.5, H * 0.42, W * 0.75, H * 0.95, inner=255, outer=150, power=1.6)
    cv = multiply_l(cv, light)
    cv = cv.filter(ImageFilter.GaussianBlur(1.1))
    # film colour: warm, slightly lifted blacks, gentle S-curve
    curves = []
    for gain, lift in [(1.06, 10), (1.0, 6), (0.9, 4)]:
        lut = []
        for i in range(256):
            t = i / 255
            s = t + 0.08 * (t - 0.5) * (1 - abs(2 * t - 1))  # gentle S-curve
            lut.append(clamp8(lift + s * 255 * gain * (1 - lift / 255)))
        curves.extend(lut)
    cv = cv.point(curves)
    vig = radial((W, H), W / 2, H / 2, W * 0.72, H * 0.72, inner=255, outer=205, power=2.2)
    cv = multiply_l(cv, vig)

    path = out / "wijkgericht-werken-1999.jpg"
    grain_and_save(cv, (GROUP_W, GROUP_H), path, rng, grain=4.5, chroma=2.0)
    meta = {
        "image": "wijkgericht-werken-1999",
        "width": GROUP_W,
        "height": GROUP_H,
        "figures": [{"row": p.row, "position": p.position, "xywh": p.box}
                    for p in sorted(people, key=lambda q: (q.row != "top", q.position))],
    }
    (out / "wijkgericht-werken-1999.figures.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


# --------------------------------------------------------------------------- street view

STREET_W, STREET_H = 4800, 3200


def street_view(out: Path) -> None:
    rng = random.Random(19960917)
    W, H = int(STREET_W * K), int(STREET_H * K)
    cv = Image.new("RGB", (W, H), (0, 0, 0))
    d = ImageDraw.Draw(cv)

    def P(*xy):  # full-size -> drawing coordinates
        return [v * K for v in xy]

    horizon = 2192.0
    focal = 3960.0

    def ground_y(dist: float) -> float:  # image row of the ground at a distance (m)
        return horizon + 1.6 * focal / dist

    def ground_x(xw: float, dist: float) -> float:  # xw: metres right of the axis
        return STREET_W / 2 + xw * focal / dist

    # sky with Dutch cumulus ----------------------------------------------------------
    sky_h = int(1400 * K)
    grad = Image.linear_gradient("L").resize((W, sky_h)).point(lambda v: clamp8(v ** 0.8 * 255 ** 0.2))
    sky = Image.composite(Image.new("RGB", (W, sky_h), (200, 214, 228)), Image.new("RGB", (W, sky_h), (78, 128, 196)), grad)
    cn = fractal_noise((W, sky_h), rng, cells=(380, 150, 50, 14), weights=(0.45, 0.3, 0.17, 0.08))
    hfall = Image.linear_gradient("L").resize((W, sky_h)).point(lambda v: clamp8(v * 0.25))
    cn = ImageChops.add(cn, hfall, 1.0, -20)
    alpha = cn.filter(ImageFilter.GaussianBlur(3)).point(lambda v: clamp8((v - 134) * 9.0))
    shade = ImageChops.offset(cn, 0, -int(40 * K)).point(lambda v: clamp8((v - 120) * 4))
    cloud = Image.composite(Image.new("RGB", (W, sky_h), (250, 250, 246)), Image.new("RGB", (W, sky_h), (168, 174, 186)), shade)
    sky.paste(cloud, (0, 0), alpha.filter(ImageFilter.GaussianBlur(1.5)))
    cv.paste(sky, (0, 0))

    house_w = 1780
    xs = [1510 - house_w, 1510, 1510 + house_w]
    ridge, eave, facade_top, base = 520, 1000, 1060, 2720

    # roof: anthracite concrete tiles ------------------------------------------------------
    roof = Image.new("RGB", (W, int((eave - ridge + 80) * K)), (64, 66, 70))
    rd = ImageDraw.Draw(roof)
    row = 0
    rows = []
    y = ridge + 40
    step = 36.0
    while y < eave + 40:
        rows.append((y, step))
        y += step
        step *= 1.035
    for y, step in rows:
        off = (row % 2) * 50
        x = -off
        while x < STREET_W:
            g = clamp8(72 * rng.uniform(0.88, 1.1))
            c = (g, g + 1, g + 4)
            rd.rectangle(((x + 3) * K, (y - ridge) * K, (x + 97) * K, (y - ridge + step - 4) * K), fill=c)
            rd.line(((x + 3) * K, (y - ridge + step - 5) * K, (x + 97) * K, (y - ridge + step - 5) * K), fill=scale(c, 0.6), width=2)
            x += 100
        row += 1
    roof = add_signed(roof, fractal_noise(roof.size, rng, cells=(40, 8, 2), weights=(0.4, 0.3, 0.3)), 0.45)
    cv.paste(roof, (0, int(ridge * K)))
    ridge_l = Layer(-50, ridge - 40, STREET_W + 50, ridge + 60)
    ridge_l.rect((-50, ridge - 25, STREET_W + 50, ridge + 45), radius=20)
    ridge_l.paint(cv, (58, 60, 64), bevel=12, hi=1.4, lo=0.6, texture=None)

    # brick facade, stretcher bond ---------------------------------------------------------
    fw = Image.new("RGB", (W, int((base - facade_top) * K) + 2), (178, 170, 160))
    fd = ImageDraw.Draw(fw)
    course, blen, joint = 20.5, 69.0, 4.0
    y = 0.0
    row = 0
    bcols = [(150, 70, 48), (140, 62, 44), (160, 80, 56), (128, 56, 40), (156, 76, 60)]
    while y < base - facade_top:
        x = -(row % 2) * blen / 2
        while x < STREET_W:
            c = jitter(rng, bcols[rng.randrange(len(bcols))], 0.06)
            fd.rectangle((x * K, y * K, (x + blen - joint) * K, (y + course - joint) * K), fill=c)
            x += blen
        y += course
        row += 1
    fw = add_signed(fw, fractal_noise(fw.size, rng, cells=(60, 10, 2), weights=(0.4, 0.25, 0.35)), 0.35)
    cv.paste(fw, (0, int(facade_top * K)))

    # the eaves: fascia board, gutter, and their shadow on the brick
    fascia = Layer(-50, eave - 40, STREET_W + 50, facade_top + 40)
    fascia.rect((-50, eave - 10, STREET_W + 50, facade_top - 8))
    fascia.paint(cv, (236, 234, 226), bevel=10, hi=1.05, lo=0.7)
    gutter = Layer(-50, eave - 40, STREET_W + 50, facade_top + 40)
    gutter.rect((-50, eave - 24, STREET_W + 50, eave + 14), radius=10)
    gutter.paint(cv, (150, 152, 150), bevel=10, hi=1.3, lo=0.6)
    eshadow = Layer(-50, facade_top - 10, STREET_W + 50, facade_top + 200)
    eshadow.rect((-50, facade_top - 10, STREET_W + 50, facade_top + 110))
    eshadow.soft(cv, (30, 24, 26), 0.55, 50)

    def window(x0, y0, x1, y1, *, frame=(238, 236, 228), mullions=(), transoms=(), curtain=None, vitrage=True,
               blinds=False, posters=(), frosted=False, plants=False):
        fr = 26
        # shadow of the reveal (sun from the upper left)
        soft_shape(cv, "poly", [(x0, y0), (x1 + 24, y0), (x1 + 24, y1 + 20), (x1, y1 + 20), (x1, y0 + 22), (x0, y0 + 22)],
                   (26, 20, 22), 0.5, 8)
        # glass: sky reflection over a dark room
        gx0, gy0, gx1, gy1 = x0 + fr, y0 + fr, x1 - fr, y1 - fr
        glass = Image.linear_gradient("L").resize((max(1, int((gx1 - gx0) * K)), max(1, int((gy1 - gy0) * K))))
        top_c = (150, 170, 190) if not frosted else (214, 218, 220)
        bot_c = (34, 36, 42) if not frosted else (190, 196, 200)
        gl = Image.composite(Image.new("RGB", glass.size, bot_c), Image.new("RGB", glass.size, top_c), glass.point(lambda v: clamp8(v * 1.6)))
        # a diagonal sheen
        sheen = Layer(gx0, gy0, gx1, gy1, pad=0)
        sheen.poly([(gx0 + (gx1 - gx0) * 0.15, gy0), (gx0 + (gx1 - gx0) * 0.45, gy0), (gx0 + (gx1 - gx0) * 0.1, gy1), (gx0 - (gx1 - gx0) * 0.2, gy1)])
        sheen.mask = sheen.mask.crop((0, 0) + gl.size).filter(ImageFilter.GaussianBlur(20)).point(lambda v: clamp8(v * 0.25))
        gl.paste(Image.new("RGB", gl.size, (220, 230, 240)), (0, 0), sheen.mask)
        # the houses across the street, blurred in the glass
        refl = Layer(gx0, gy0, gx1, gy1, pad=0)
        refl.rect((gx0, gy0 + (gy1 - gy0) * 0.3, gx1, gy1))
        refl.mask = refl.mask.crop((0, 0) + gl.size).filter(ImageFilter.GaussianBlur(6)).point(lambda v: clamp8(v * 0.5))
        if not frosted:
            gl.paste(Image.new("RGB", gl.size, (74, 52, 46)), (0, 0), refl.mask)
        gl = add_signed(gl, value_noise(gl.size, 60, rng), 0.05)
        cv.paste(gl, (int(gx0 * K), int(gy0 * K)))
        if blinds:
            by = gy0
            while by < gy0 + (gy1 - gy0) * 0.55:
                soft_shape(cv, "line", [(gx0, by), (gx1, by)], (206, 204, 196), 0.9, 1, 10)
                by += 18
        for (px0, py0, px1, py1, pc) in posters:
            sheet = Layer(px0, py0, px1, py1)
            sheet.rect((px0, py0, px1, py1))
            sheet.paint(cv, pc, bevel=4, hi=1.02, lo=0.85)
            for yy in range(int(py0 + (py1 - py0) * 0.55), int(py1 - 20), 26):
                soft_shape(cv, "line", [(px0 + 24, yy), (px1 - 24 - rng.uniform(0, 60), yy)], scale(pc, 0.55), 0.5, 3, 7)
            soft_shape(cv, "ellipse", (px0 + 25, py0 + 25, px1 - 25, py0 + (py1 - py0) * 0.48), mix(pc, (40, 90, 160), 0.6), 0.75, 3)
        if curtain:
            for s0, s1 in ((gx0, gx0 + (gx1 - gx0) * 0.16), (gx1 - (gx1 - gx0) * 0.16, gx1)):
                c = Layer(s0, gy0, s1, gy1)
                c.rect((s0, gy0, s1, gy1))
                c.paint(cv, curtain, bevel=30, hi=1.05, lo=0.6)
                for k in range(4):
                    fx = s0 + (s1 - s0) * (k + 0.5) / 4
                    soft_shape(cv, "line", [(fx, gy0), (fx, gy1)], scale(curtain, 0.55), 0.5, 6, 10)
        if vitrage:
            vt = gy0 + (gy1 - gy0) * 0.45
            v = Layer(gx0, vt, gx1, gy1)
            v.rect((gx0, vt, gx1, gy1))
            v.soft(cv, (236, 236, 230), 0.78, 2)
            for fx in range(int(gx0 + 20), int(gx1), 34):
                soft_shape(cv, "line", [(fx, vt), (fx + 4, gy1)], (200, 198, 190), 0.45, 4, 6)
        if plants:
            for k in range(3):
                px = gx0 + (gx1 - gx0) * (0.2 + 0.3 * k)
                pot = Layer(px - 60, gy1 - 90, px + 60, gy1)
                pot.poly([(px - 45, gy1 - 80), (px + 45, gy1 - 80), (px + 35, gy1), (px - 35, gy1)])
                pot.paint(cv, (176, 96, 64), bevel=12, hi=1.2, lo=0.6)
                for _ in range(9):
                    a = rng.uniform(-2.8, -0.35)
                    ln = rng.uniform(90, 170)
                    lf = Layer(px - 200, gy1 - 280, px + 200, gy1)
                    lf.line([(px, gy1 - 75), (px + math.cos(a) * ln, gy1 - 75 + math.sin(a) * ln)], rng.uniform(18, 30))
                    lf.paint(cv, jitter(rng, (62, 104, 52), 0.15), bevel=8, hi=1.3, lo=0.55)
        # frames
        f = Layer(x0, y0, x1, y1)
        f.rect((x0, y0, x1, y1))
        inner = f.twin()
        cells_x = [x0 + fr / 2] + list(mullions) + [x1 - fr / 2]
        cells_y = [y0 + fr / 2] + list(transoms) + [y1 - fr / 2]
        for a, b in zip(cells_x, cells_x[1:]):
            for c, e in zip(cells_y, cells_y[1:]):
                inner.rect((a + fr / 2 + 2, c + fr / 2 + 2, b - fr / 2 - 2, e - fr / 2 - 2))
        f.cut(inner)
        f.paint(cv, frame, bevel=8, hi=1.04, lo=0.72, soften=0.4)
        # the sill
        sill = Layer(x0 - 40, y1, x1 + 40, y1 + 60)
        sill.rect((x0 - 30, y1 - 4, x1 + 30, y1 + 36))
        sill.paint(cv, (196, 196, 190), bevel=8, hi=1.1, lo=0.6)
        soft_shape(cv, "poly", [(x0 - 30, y1 + 36), (x1 + 30, y1 + 36), (x1 + 50, y1 + 70), (x0 - 10, y1 + 70)], (30, 24, 26), 0.45, 10)

    def door(x0, y0, x1, y1, color, glass=True):
        soft_shape(cv, "poly", [(x0, y0), (x1 + 26, y0), (x1 + 26, y1), (x1, y1), (x1, y0 + 24), (x0, y0 + 24)], (26, 20, 22), 0.55, 8)
        fr = Layer(x0, y0, x1, y1)
        fr.rect((x0, y0, x1, y1))
        fr.paint(cv, (236, 234, 226), bevel=8, hi=1.04, lo=0.72)
        leaf = Layer(x0, y0, x1, y1)
        leaf.rect((x0 + 28, y0 + 28, x1 - 28, y1))
        leaf.paint(cv, color, bevel=14, hi=1.12, lo=0.6)
        if glass:
            gx0, gx1 = x0 + 90, x1 - 90
            gl = Layer(gx0, y0, gx1, y1)
            gl.rect((gx0, y0 + 110, gx1, y0 + (y1 - y0) * 0.55))
            gl.paint(cv, (60, 70, 84), bevel=20, hi=1.9, lo=0.6)
        # panels below, the letterbox and the handle
        for py in (y0 + (y1 - y0) * 0.62, y0 + (y1 - y0) * 0.81):
            soft_shape(cv, "line", [(x0 + 90, py), (x1 - 90, py), (x1 - 90, py + 100), (x0 + 90, py + 100), (x0 + 90, py)], scale(color, 0.6), 0.5, 3, 6)
        lb = Layer(x0, y0, x1, y1)
        lb.rect(((x0 + x1) / 2 - 80, y0 + (y1 - y0) * 0.57, (x0 + x1) / 2 + 80, y0 + (y1 - y0) * 0.57 + 28), radius=6)
        lb.paint(cv, (190, 184, 160), bevel=5, hi=1.3, lo=0.5)
        hd = Layer(x0, y0, x1, y1)
        hd.rect((x1 - 90, y0 + (y1 - y0) * 0.5, x1 - 60, y0 + (y1 - y0) * 0.5 + 90), radius=10)
        hd.paint(cv, (200, 196, 180), bevel=5, hi=1.4, lo=0.5)

    # the three houses --------------------------------------------------------------------
    variants = [
        dict(door=(40, 84, 62), panel=(44, 70, 112), curtain=(150, 120, 90), wijkpost=False),
        dict(door=(176, 40, 36), panel=(214, 170, 50), curtain=None, wijkpost=True),
        dict(door=(36, 58, 104), panel=(44, 70, 112), curtain=(120, 70, 80), wijkpost=False),
    ]
    for x0, v in zip(xs, variants):
        # first floor: a wide window over a coloured timber panel, and a small frosted one
        panel = Layer(x0 + 160, 1700, x0 + 1120, 1900)
        panel.rect((x0 + 180, 1720, x0 + 1100, 1880))
        panel.paint(cv, v["panel"], bevel=8, hi=1.05, lo=0.7)
        for k in range(1, 14):
            px = x0 + 180 + k * (920 / 14)
            soft_shape(cv, "line", [(px, 1722), (px, 1878)], scale(v["panel"], 0.55), 0.6, 2, 5)
        window(x0 + 180, 1250, x0 + 1100, 1720, mullions=(x0 + 640,), transoms=(1390,), curtain=v["curtain"],
               vitrage=False)
        window(x0 + 1300, 1250, x0 + 1600, 1520, frosted=True, vitrage=False)
        # a soldier course over the ground floor
        sc = Layer(x0 - 10, 1880, x0 + house_w + 10, 1960)
        sc.rect((x0, 1890, x0 + house_w, 1950))
        sc.paint(cv, (126, 58, 42), bevel=6, hi=1.08, lo=0.7, texture=None)
        for bx in range(int(x0), int(x0 + house_w), 23):
            soft_shape(cv, "line", [(bx, 1892), (bx, 1948)], (170, 160, 150), 0.5, 1, 4)
        # ground floor: door with canopy, and the front window
        door(x0 + 130, 2040, x0 + 540, 2720, v["door"])
        window(x0 + 130, 1965, x0 + 540, 2040, vitrage=False)
        canopy = Layer(x0 + 40, 1930, x0 + 640, 2010)
        canopy.rect((x0 + 60, 1950, x0 + 620, 1990))
        canopy.paint(cv, (220, 218, 210), bevel=8, hi=1.1, lo=0.65)
        soft_shape(cv, "poly", [(x0 + 60, 1990), (x0 + 620, 1990), (x0 + 660, 2090), (x0 + 100, 2090)], (26, 20, 22), 0.5, 14)
        if v["wijkpost"]:
            window(x0 + 720, 1990, x0 + 1680, 2600, mullions=(x0 + 1200,), transoms=(2130,), vitrage=False, blinds=True,
                   posters=[(x0 + 800, 2290, x0 + 1040, 2560, (236, 230, 214)),
                            (x0 + 1290, 2260, x0 + 1500, 2540, (244, 214, 80))])
            # a blank name plate and a display case next to the door
            plate = Layer(x0 + 560, 2150, x0 + 700, 2400)
            plate.rect((x0 + 570, 2160, x0 + 690, 2380), radius=6)
            plate.paint(cv, (34, 82, 150), bevel=8, hi=1.2, lo=0.6)
            soft_shape(cv, "line", [(x0 + 585, 2190), (x0 + 675, 2190)], (240, 240, 236), 0.9, 2, 8)
            soft_shape(cv, "poly", [(x0 + 690, 2160), (x0 + 705, 2170), (x0 + 705, 2395), (x0 + 690, 2380)], (26, 20, 22), 0.4, 4)
        else:
            window(x0 + 720, 1990, x0 + 1680, 2600, mullions=(x0 + 1200,), transoms=(2130,), vitrage=True,
                   curtain=v["curtain"], plants=True)
        # rain-water pipe at the party wall
        pipe = Layer(x0 - 40, facade_top, x0 + 40, base)
        pipe.rect((x0 - 18, facade_top - 20, x0 + 18, base - 10))
        pipe.paint(cv, (140, 142, 140), bevel=8, hi=1.35, lo=0.55)
        soft_shape(cv, "poly", [(x0 + 18, facade_top), (x0 + 40, facade_top), (x0 + 40, base), (x0 + 18, base)], (26, 20, 22), 0.4, 6)

    # a dormer on the left neighbour and vent pipes on the roof
    dx0 = xs[0] + 380
    dm = Layer(dx0 - 40, 560, dx0 + 1000, 1000)
    dm.rect((dx0, 600, dx0 + 940, 985))
    dm.paint(cv, (70, 74, 80), bevel=10, hi=1.2, lo=0.7)
    roofd = Layer(dx0 - 60, 560, dx0 + 1000, 640)
    roofd.rect((dx0 - 30, 575, dx0 + 970, 615))
    roofd.paint(cv, (60, 60, 64), bevel=8, hi=1.3, lo=0.6)
    window(dx0 + 60, 650, dx0 + 880, 940, mullions=(dx0 + 470,), vitrage=False, curtain=(196, 190, 170))
    for x0 in xs[1:]:
        vp = Layer(x0 + 1300, 380, x0 + 1420, 640)
        vp.rect((x0 + 1330, 420, x0 + 1390, 700), radius=6)
        vp.paint(cv, (74, 74, 78), bevel=10, hi=1.5, lo=0.5)

    # front strip, pavement, kerb, road ------------------------------------------------------
    ystrip, ypave, ykerb, yroad = base, ground_y(11.0), ground_y(8.5), ground_y(8.5) + 16
    # front gardens: concrete slabs at the wijkpost, hedges at the neighbours
    d.rectangle(P(0, ystrip, STREET_W, ypave), fill=(150, 148, 142))
    # pavement: 30 cm concrete tiles in perspective
    pv = Image.new("RGB", (W, int((ykerb - ypave) * K) + 2), (168, 166, 160))
    pd = ImageDraw.Draw(pv)
    dist = 11.0
    while dist > 8.5:
        yy = (ground_y(dist) - ypave) * K
        pd.line((0, yy, W, yy), fill=(128, 126, 122), width=1)
        dist -= 0.3
    for k in range(-40, 41):
        xw = k * 0.3
        pd.line(((ground_x(xw, 11.0)) * K, 0, (ground_x(xw, 8.5)) * K, (ykerb - ypave) * K), fill=(130, 128, 124), width=1)
    pv = add_signed(pv, fractal_noise(pv.size, rng, cells=(30, 6, 1.5), weights=(0.4, 0.3, 0.3)), 0.4)
    cv.paste(pv, (0, int(ypave * K)))
    kerb = Layer(-50, ykerb - 10, STREET_W + 50, yroad + 20)
    kerb.rect((-50, ykerb - 2, STREET_W + 50, yroad))
    kerb.paint(cv, (196, 194, 188), bevel=4, hi=1.1, lo=0.7)
    # road: red-grey clinkers
    rh = H - int(yroad * K)
    road = Image.new("RGB", (W, rh), (92, 80, 76))
    rdd = ImageDraw.Draw(road)
    dist = 8.4
    r0 = 0
    while True:
        y1 = (ground_y(dist - 0.1) - yroad) * K
        if r0 > rh:
            break
        xw = -12.0 + (0.1 if int(dist * 10) % 2 else 0.0)
        while xw < 12:
            c = jitter(rng, (132, 96, 84), 0.1)
            xa, xb = ground_x(xw, dist) * K, ground_x(xw + 0.2, dist) * K
            rdd.rectangle((xa + 1, r0 + 1, max(xa + 1, xb - 1), max(r0 + 1, y1 - 1)), fill=c)
            xw += 0.2
        r0 = y1
        dist -= 0.1
    road = add_signed(road, fractal_noise(road.size, rng, cells=(20, 4, 1.5), weights=(0.4, 0.3, 0.3)), 0.5)
    cv.paste(road, (0, int(yroad * K)))

    # hedges in front of the neighbours' windows
    for x0 in (xs[0], xs[2]):
        hg = Layer(x0 + 600, 2480, x0 + 1760, ypave + 20)
        hg.rect((x0 + 640, 2520, x0 + 1740, ypave), radius=60)
        for k in range(26):
            hx = x0 + 660 + k * 42
            r = rng.uniform(40, 70)
            hg.ellipse((hx - r, 2520 - r * 0.6, hx + r, 2520 + r * 0.8))
        hg.paint(cv, (56, 92, 44), bevel=40, hi=1.3, lo=0.5, texture=fractal_noise((W, H), rng, cells=(6, 2, 1), weights=(0.3, 0.3, 0.4)), tex_strength=1.4)
        soft_shape(cv, "poly", [(x0 + 1740, 2560), (x0 + 1840, 2580), (x0 + 1840, ypave), (x0 + 1740, ypave)], (26, 22, 22), 0.45, 20)

    # a bicycle against the wijkpost's front
    bx, by = xs[1] + 1180, 2720
    wr = 110
    bike = Layer(bx - 400, by - 420, bx + 400, by + 20)
    for cxw in (bx - 230, bx + 230):
        bike.d.ellipse(bike._p([(cxw - wr, by - 2 * wr), (cxw + wr, by)]), outline=255, width=max(1, int(14 * K)))
        bike.d.ellipse(bike._p([(cxw - 14, by - wr - 14), (cxw + 14, by - wr + 14)]), fill=255)
    pts = {"rear": (bx - 230, by - wr), "front": (bx + 230, by - wr), "crank": (bx - 20, by - wr + 10),
           "seat": (bx - 90, by - 330), "head": (bx + 170, by - 320)}
    for a, b in (("rear", "crank"), ("crank", "seat"), ("rear", "seat"), ("seat", "head"), ("crank", "head"), ("head", "front")):
        bike.line([pts[a], pts[b]], 16)
    bike.line([(bx - 140, by - 360), (bx - 40, by - 360)], 26)  # saddle
    bike.line([(bx + 160, by - 330), (bx + 150, by - 400), (bx + 80, by - 410)], 14)  # handlebar
    bike.line([(bx - 340, by - 2 * wr - 20), (bx - 120, by - 2 * wr - 20)], 14)  # carrier
    soft_shape(cv, "poly", [(bx - 380, by - 6), (bx + 360, by - 6), (bx + 420, by + 30), (bx - 320, by + 30)], (26, 22, 22), 0.4, 14)
    bike.paint(cv, (30, 30, 34), bevel=4, hi=1.8, lo=0.7)

    # lamp post ----------------------------------------------------------------------------
    lx = ground_x(-4.6, 8.7)
    ly = ground_y(8.7)
    top = ly - (4.6 * focal / 8.7)
    lp = Layer(lx - 100, top - 100, lx + 100, ly + 20)
    lp.rect((lx - 22, top, lx + 22, ly), radius=8)
    lp.rect((lx - 34, ly - 300, lx + 34, ly), radius=10)
    lp.paint(cv, (90, 96, 96), bevel=14, hi=1.5, lo=0.5)
    lamp = Layer(lx - 200, top - 200, lx + 200, top + 60)
    lamp.poly([(lx - 110, top - 40), (lx + 110, top - 40), (lx + 70, top + 40), (lx - 70, top + 40)])
    lamp.ellipse((lx - 40, top - 100, lx + 40, top - 20))
    lamp.paint(cv, (72, 78, 80), bevel=10, hi=1.6, lo=0.5)
    soft_shape(cv, "poly", [(lx, ly), (lx + 40, ly), (lx + 700, ly + 140), (lx + 660, ly + 150)], (30, 26, 26), 0.35, 16)

    # the street tree -----------------------------------------------------------------------
    tx, ty = ground_x(4.0, 8.8), ground_y(8.8)
    trunk_top = ty - (2.6 * focal / 8.8)
    crown_c = (tx + 40, ty - (3.3 * focal / 8.8))
    # shadow of the crown on the pavement and on the neighbour's facade
    soft_shape(cv, "ellipse", (tx - 150, ty - 40, tx + 900, ty + 120), (24, 26, 22), 0.45, 60)
    tree_sh = Layer(crown_c[0] - 200, 1400, crown_c[0] + 1400, base)
    for k in range(40):
        r = rng.uniform(60, 170)
        px, py = crown_c[0] + 300 + rng.uniform(0, 900), 1500 + rng.uniform(0, 900)
        tree_sh.ellipse((px - r, py - r, px + r, py + r))
    tree_sh.soft(cv, (40, 26, 26), 0.28, 40)
    tr = Layer(tx - 200, trunk_top - 300, tx + 200, ty + 20)
    tr.poly([(tx - 55, ty), (tx + 55, ty), (tx + 36, trunk_top), (tx - 36, trunk_top)])
    for s in (-1, 1):
        tr.line([(tx, trunk_top + 200), (tx + s * 180, trunk_top - 250)], 34)
    tr.paint(cv, (92, 80, 66), bevel=24, hi=1.35, lo=0.45, texture=fractal_noise((W, H), rng, cells=(3, 1.5, 1), weights=(0.3, 0.3, 0.4)), tex_strength=1.2)
    # tree grate
    soft_shape(cv, "ellipse", (tx - 240, ty - 30, tx + 240, ty + 40), (70, 62, 54), 0.8, 6)
    # crown: an irregular outline filled with many small leaf clusters, with a few gaps of sky
    crown = Layer(crown_c[0] - 1000, crown_c[1] - 1000, crown_c[0] + 1000, crown_c[1] + 900)
    lobes = []
    for k in range(9):
        a = 2 * math.pi * k / 9 + rng.uniform(-0.3, 0.3)
        lobes.append((crown_c[0] + math.cos(a) * 330, crown_c[1] + math.sin(a) * 300, rng.uniform(300, 400)))
    lobes.append((crown_c[0], crown_c[1], 480))
    for px, py, r in lobes:
        crown.ellipse((px - r, py - r * 0.92, px + r, py + r * 0.92))
    edge = crown.twin()
    for k in range(320):  # ragged leafy edge
        a = rng.uniform(0, 2 * math.pi)
        lx0, ly0, lr = lobes[rng.randrange(len(lobes) - 1)]
        px, py = lx0 + math.cos(a) * lr * 0.97, ly0 + math.sin(a) * lr * 0.9
        r = rng.uniform(18, 45)
        edge.ellipse((px - r, py - r, px + r, py + r))
    crown.mask = ImageChops.lighter(crown.mask, edge.mask)
    leaf_tex = fractal_noise((W, H), rng, cells=(5, 2.2, 1), weights=(0.35, 0.35, 0.3))
    crown.paint(cv, (44, 70, 34), bevel=160, hi=1.15, lo=0.5, light=(-0.6, -0.8), texture=leaf_tex, tex_strength=0.5)
    # leaf clusters in four tones: the sunlit ones sit towards the upper left
    tones = [((52, 82, 38), 0.0), ((70, 104, 48), 0.25), ((92, 126, 58), 0.5), ((116, 148, 70), 0.8)]
    for color, bias in tones:
        tl = crown.twin()
        n = 0
        while n < 1100:
            a = rng.uniform(0, 2 * math.pi)
            rr = math.sqrt(rng.random())
            px = crown_c[0] + math.cos(a) * rr * 660
            py = crown_c[1] + math.sin(a) * rr * 620
            # keep the lighter tones mostly where the sun reaches
            sun = 0.5 + 0.5 * (-(px - crown_c[0]) / 660 * 0.6 - (py - crown_c[1]) / 620 * 0.8)
            if rng.random() > 1 - abs(sun - bias) * 1.3:
                continue
            r = rng.uniform(9, 22)
            tl.d.ellipse(tl._p([(px - r, py - r * 0.75), (px + r, py + r * 0.75)]), fill=255)
            n += 1
        tl.clip_to(crown)
        tl.paint(cv, color, bevel=10, hi=1.2, lo=0.6, soften=0.5)

    # photographic finish ----------------------------------------------------------------------
    cv = cv.filter(ImageFilter.GaussianBlur(0.8))
    curves = []
    for gain, lift in ((1.02, 6), (1.0, 5), (0.96, 8)):
        curves.extend(clamp8(lift + (i + 0.1 * (i - 128) * (1 - abs(i - 128) / 128)) * gain * (1 - lift / 255)) for i in range(256))
    cv = cv.point(curves)
    vig = radial((W, H), W / 2, H / 2, W * 0.75, H * 0.75, inner=255, outer=200, power=2.2)
    cv = multiply_l(cv, vig)
    grain_and_save(cv, (STREET_W, STREET_H), out / "wijkpost-leekerhoek.jpg", rng, grain=4.0, chroma=2.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="folder to write into (default: the folder of this script)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    group_portrait(args.out)
    t1 = time.monotonic()
    street_view(args.out)
    t2 = time.monotonic()
    print(f"wijkgericht-werken-1999.jpg {t1 - t0:.1f}s, wijkpost-leekerhoek.jpg {t2 - t1:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
