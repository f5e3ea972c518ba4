"""The official validator's test image: 1000×1000, 10×10 flat 100 px squares."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

VALIDATOR_IDENTIFIER = "67352ccc-d1b0-11e1-89ae-279075081939"


def validator_colours() -> list[list[tuple[int, int, int]]]:
    """colorInfo[x][y]: the colour of the square in column x, row y."""
    from iiif_validator.validator import ValidationInfo

    return ValidationInfo().colorInfo


def draw_validator_image(path: Path) -> Path:
    """The validator's 1000×1000 test image: 10×10 flat 100 px squares."""
    colours = validator_colours()
    image = Image.new("RGB", (1000, 1000))
    draw = ImageDraw.Draw(image)
    for x in range(10):
        for y in range(10):
            draw.rectangle([x * 100, y * 100, x * 100 + 99, y * 100 + 99], fill=colours[x][y])
    image.save(path)
    return path
