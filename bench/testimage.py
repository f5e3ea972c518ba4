"""The benchmark's test image: deterministic, photo-like, 6000×4000.

Flat or synthetic-smooth images make JPEG decode and encode unrealistically cheap,
so the picture mixes what photographs of archive material have: broad colour
gradients, objects with hard edges and shading, mid and fine texture, and sensor
grain. Every noise generator is seeded, so the same libvips gives the same pixels.
At JPEG Q85 a 1024² crop is about 1.6 bits per pixel, like a real photo.

The source is written as a JPEG (Q95, as an archive's access copy would be);
`beeldpost ingest` turns it into the pyramidal TIFF that both servers then read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyvips

WIDTH, HEIGHT = 6000, 4000
# Bump when the recipe changes, so a cached image in bench/work is redrawn.
RECIPE = 1


def draw(width: int = WIDTH, height: int = HEIGHT) -> pyvips.Image:
    def perlin(cell: int, seed: int) -> pyvips.Image:
        return pyvips.Image.perlin(width, height, cell_size=cell, seed=seed)

    # Broad colour field: each band its own slow gradients.
    bands = [perlin(1500, 10 + k) * 70 + perlin(350, 20 + k) * 35 for k in range(3)]
    colour = bands[0].bandjoin(bands[1:])
    # Objects with hard borders and shading inside them.
    shapes = (perlin(260, 31) > 0.05).ifthenelse(40, -25) + (perlin(90, 32) > 0.2).ifthenelse(30, 0)
    # Mid and fine texture, softened like a lens would, then sensor grain.
    texture = perlin(24, 34) * 22 + perlin(7, 35) * 14
    grain = pyvips.Image.gaussnoise(width, height, sigma=5, mean=0, seed=36)
    luminance = (shapes + texture).gaussblur(0.8) + grain
    image = colour + luminance + [135, 120, 100]
    return image.cast("uchar").copy(interpretation="srgb")


def ensure(path: Path) -> Path:
    """Draw the image to `path` (a .jpg) unless this recipe's image is already there."""
    stamp = path.with_suffix(".recipe")
    expected = f"{RECIPE} {WIDTH}x{HEIGHT} libvips {pyvips.version(0)}.{pyvips.version(1)}"
    if path.exists() and stamp.exists() and stamp.read_text().strip() == expected:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.jpg")
    draw().jpegsave(str(temporary), Q=95, keep="none")
    os.replace(temporary, path)
    stamp.write_text(expected + "\n")
    return path


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/work/images/bench.jpg")
    print(ensure(target))
