"""Build hook: a wheel carries the built viewers (Mirador, UV) when they have been built.

Everything else about the package is in pyproject.toml. `make viewers` (frontend/
ensure.sh) builds the viewers from the npm lock file into var/viewers/ (or
BEELDPOST_VIEWERS); a wheel built after it holds a copy in beeldpost/pages/viewers/,
which an installed server serves when BEELDPOST_VIEWERS names no other folder.
Without a build the wheel is built all the same, and its pages say the viewer is missing.
"""

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithViewers(build_py):
    def run(self):
        super().run()
        built = Path(os.environ.get("BEELDPOST_VIEWERS") or "var/viewers")
        if not (built / "build-id").is_file():
            return
        target = Path(self.build_lib) / "beeldpost" / "pages" / "viewers"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(built, target)


setup(cmdclass={"build_py": BuildPyWithViewers})
