"""Two Beeldpost servers behind Debian's nginx with the shipped deploy/nginx.conf: the
official validator passes through it, a shared cache can keep and purge by tag, and
killing one server under load leaves the other serving with no client seeing an error.

The two servers share one records folder, images folder and catalogue (as two
machines on one shared disk would); nginx runs the shipped configuration with only
its ports and folders changed.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import time
import urllib.error
from pathlib import Path

import pytest
from iiif_validator.validator import ImageAPI, ValidationInfo
from iiif_validator.validator import TestSuite as ValidatorSuite

from support.cluster import NGINX_CONF, Nginx, get, nginx_binary
from support.live import LiveServer, free_port
from support.paths import IMAGES, MANIFESTS
from support.validator import VALIDATOR_IDENTIFIER

pytestmark = pytest.mark.live

PHOTO = "wijkgericht-werken-1999"


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(MANIFESTS, root / "manifests", ignore=shutil.ignore_patterns("sources"))
        self.images = root / "images"
        shutil.copytree(IMAGES, self.images)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {"BEELDPOST_PUBLIC_URL": self.url}
        self.nodes = [LiveServer(root, self.images, f"node-{n}", settings) for n in (1, 2)]
        try:
            self.nginx = Nginx(root, self.port, self.nodes)
        except BaseException:
            for node in self.nodes:
                node.stop()
            raise

    def stop(self) -> None:
        self.nginx.stop()
        for node in self.nodes:
            if node.process.poll() is None:
                node.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, validator_png):
    root = tmp_path_factory.mktemp("cluster")
    cluster = Cluster(root)
    shutil.copy(validator_png, cluster.images / validator_png.name)
    try:
        for node in cluster.nodes:
            node.wait_for(f"/iiif/3/{VALIDATOR_IDENTIFIER}/info.json")
        yield cluster
    finally:
        cluster.stop()


def test_the_shipped_configuration_is_accepted_as_it_is():
    """`nginx -t -c deploy/nginx.conf` as the README says, nothing changed: its folders
    are ones a Debian nginx has or makes (it makes only the last part of a cache path).
    As root only: the file names root's folders, as a server's nginx runs."""
    if os.geteuid() != 0:
        pytest.skip("nginx reads the shipped file's folders (/run, /var/log) as root")
    checked = subprocess.run([nginx_binary(), "-t", "-c", str(NGINX_CONF)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_both_servers_answer_behind_nginx_with_the_proxy_s_address(cluster):
    status, _headers, body = get(f"{cluster.url}/iiif/3/{PHOTO}/info.json")
    assert status == 200 and f'"id": "{cluster.url}/iiif/3/{PHOTO}"'.encode() in body
    for node in cluster.nodes:  # each, asked directly, gives the same document
        assert get(f"{node.url}/iiif/3/{PHOTO}/info.json")[2] == body
    logs = [cluster.root / f"{node.log_path.stem}-access.log" for node in cluster.nodes]
    before = [len(log.read_text("utf-8").splitlines()) for log in logs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(get, [f"{cluster.url}/iiif/manifests/{PHOTO}"] * 40))
    time.sleep(0.5)  # gunicorn writes its access log after the answer
    after = [len(log.read_text("utf-8").splitlines()) for log in logs]
    assert all(now > then for now, then in zip(after, before)), (before, after)


@pytest.mark.parametrize("version,prefix", [("3.0", "iiif/3"), ("2.0", "iiif/2")])
def test_the_official_validator_passes_through_nginx(cluster, version, prefix):
    suite = ValidatorSuite(ValidationInfo())
    names = sorted(name for name, info in suite.list_tests(version).items() if info["level"] <= 2)
    assert len(names) >= 30
    failures = []
    for name in names:
        result = ImageAPI(VALIDATOR_IDENTIFIER, f"127.0.0.1:{cluster.port}", prefix, "http", "",
                          version, debug=False)
        suite.run_test(name, result)
        if result.exception is not None:
            failures.append(f"{name}: {result.exception} ({result.urls})")
    assert failures == []


def test_a_shared_cache_keeps_images_and_can_purge_one_by_its_tag(cluster):
    tile = f"{cluster.url}/iiif/3/{PHOTO}/0,0,512,512/256,/0/default.jpg"
    _status, first, body = get(tile)
    assert "s-maxage=" in first["Cache-Control"] and "public" in first["Cache-Control"]
    assert first["Surrogate-Key"] == f"image-{PHOTO}"
    assert first["Cache-Tag"] == f"image-{PHOTO}"
    _status, second, again = get(tile)
    assert second["X-Cache-Status"] == "HIT" and again == body
    # The ETag is the content's: every server gives the same for the same bytes.
    etags = {get(tile.replace(cluster.url, node.url))[1]["ETag"] for node in cluster.nodes}
    assert etags == {first["ETag"]}
    # An item's documents carry its own tag and its image's.
    _status, manifest, _body = get(f"{cluster.url}/iiif/manifests/{PHOTO}")
    assert set(manifest["Surrogate-Key"].split()) == {f"item-{PHOTO}", f"image-{PHOTO}"}
    _status, page, _body = get(f"{cluster.url}/items/{PHOTO}")
    assert set(page["Cache-Tag"].split(",")) == {f"item-{PHOTO}", f"image-{PHOTO}"}


def test_a_server_killed_under_load_leaves_the_other_serving(cluster):
    """kill -9 of one server (master and workers) while 8 clients ask for uncached
    answers: nginx sends what that server would have answered to the other, so no
    client sees an error; afterwards every request still succeeds."""
    urls = [f"{cluster.url}/iiif/3/{PHOTO}/full/{width},/0/default.jpg" for width in range(40, 400)]
    urls += [f"{cluster.url}/iiif/manifests/{PHOTO}", f"{cluster.url}/iiif/collection"] * 40
    failures: list[str] = []
    answered = 0

    def ask(url: str) -> None:
        nonlocal answered
        try:
            status, _headers, _body = get(url)
            if status != 200:
                failures.append(f"{url}: {status}")
            answered += 1
        except (urllib.error.URLError, OSError) as error:
            failures.append(f"{url}: {error}")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(ask, url) for url in urls[:120]]
        time.sleep(0.3)
        cluster.nodes[0].kill()
        futures += [pool.submit(ask, url) for url in urls[120:]]
        for future in futures:
            future.result()
    # At most the requests in flight on the killed server could fail; nginx retries
    # GET on the other, so none should.
    assert len(failures) <= 8, failures
    assert answered >= len(urls) - 8
    # nginx did meet the dead server (and went on to the other).
    errors = cluster.nginx.error_log
    assert cluster.nodes[0].host in errors
    for url in urls[:20]:
        assert get(url)[0] == 200
    print(f"{len(failures)} of {len(urls)} requests failed while a server was killed")
