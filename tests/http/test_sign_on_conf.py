"""deploy/sign-on.conf, the single sign-on example, is valid nginx when included into the
shipped deploy/nginx.conf as its header says (`nginx -t`, Debian's nginx)."""

from __future__ import annotations

import subprocess

from support.cluster import nginx_binary, nginx_config
from support.paths import REPO


class _Node:
    host = "127.0.0.1:9"


def test_the_sign_on_example_is_valid_inside_the_shipped_configuration(tmp_path):
    text = nginx_config(tmp_path, 8080, [_Node()])
    at = text.rfind("location / {")
    end = text.index("}", at) + 1
    text = (text[:end] + f"\n        include {REPO / 'deploy' / 'sign-on.conf'};\n"
            + text[end:])
    (tmp_path / "nginx.conf").write_text(text, "utf-8")
    checked = subprocess.run([nginx_binary(), "-t", "-c", str(tmp_path / "nginx.conf"),
                              "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "Remote-User $beeldpost_user" in (REPO / "deploy" / "sign-on.conf").read_text()
