"""Photo-like test images and the record of a rights-capped one."""

from __future__ import annotations

import pyvips

RECORD = """\
id: capped
image: capped
language: nl
label: {{nl: Beperkt, en: Capped}}
summary: {{nl: Een beperkte foto, en: A capped photo}}
credit: {{nl: foto X, en: photo X}}
rights: http://rightsstatements.org/vocab/InC/1.0/
rights_label: {{nl: Alle rechten voorbehouden, en: All rights reserved}}
{extra}
"""


def textured(width: int, height: int) -> pyvips.Image:
    """Fine detail everywhere: a downsampled copy differs visibly from full resolution."""
    noise = pyvips.Image.gaussnoise(width, height, mean=128, sigma=60)
    ramp = pyvips.Image.xyz(width, height)[0] * (255 / width)
    return noise.bandjoin([ramp, noise.rot180()]).cast("uchar").copy(interpretation="srgb")
