"""Coverage-guided fuzzing of the Image API grammar and its resolution (atheris).

Run on demand, not in `make test`:  make fuzz  (FUZZ_SECONDS=300 make fuzz for longer).
Any exception other than the clean client errors (BeeldpostError with 400/501) is a
crash atheris reports with the input that caused it.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from beeldpost.errors import BeeldpostError
    from beeldpost.image.operations import Limits, resolve
    from beeldpost.image.parameters import parse_image_request

LIMITS = Limits(max_area=100_000_000)


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    version = 3 if provider.ConsumeBool() else 2
    width = provider.ConsumeIntInRange(1, 100_000)
    height = provider.ConsumeIntInRange(1, 100_000)
    segments = [provider.ConsumeUnicodeNoSurrogates(40) for _ in range(4)]
    try:
        request = parse_image_request(*segments, version)
        ops = resolve(request, width, height, LIMITS)
    except BeeldpostError as error:
        if error.status not in (400, 501) or not error.message:
            raise
        return
    assert 0 <= ops.x < width and 0 <= ops.y < height
    assert 0 < ops.region_width <= width - ops.x and 0 < ops.region_height <= height - ops.y
    assert ops.width >= 1 and ops.height >= 1 and LIMITS.fits(ops.width, ops.height)
    canonical = ops.canonical_path(version).split("/")
    again = resolve(parse_image_request(*canonical, version), width, height, LIMITS)
    assert again.canonical_path(version) == ops.canonical_path(version)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
