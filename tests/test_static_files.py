"""Static files are answered in front of Django, from memory, and only from the static roots."""

import os
from pathlib import Path

import pytest
from channels.testing import HttpCommunicator
from django.contrib.staticfiles import finders

from viewerproject.static_files import StaticFiles

MODULE = "frontend/js/viewer/viewer.js"


async def _not_django(scope, receive, send):
    await send({"type": "http.response.start", "status": 599, "headers": []})
    await send({"type": "http.response.body", "body": b"passed on"})


async def _get(app, path, method="GET", headers=()):
    communicator = HttpCommunicator(app, method, path, headers=list(headers))
    return await communicator.get_response(timeout=5)


def _headers(response):
    return dict(response["headers"])


async def test_a_module_is_served_with_a_javascript_type_and_its_bytes():
    response = await _get(StaticFiles(_not_django), f"/static/{MODULE}")
    assert response["status"] == 200
    assert response["body"] == Path(finders.find(MODULE)).read_bytes()
    assert _headers(response)[b"content-type"] == b"text/javascript"
    assert _headers(response)[b"x-content-type-options"] == b"nosniff"


async def test_a_matching_etag_is_answered_not_modified_without_a_body():
    app = StaticFiles(_not_django)
    etag = _headers(await _get(app, f"/static/{MODULE}"))[b"etag"]
    response = await _get(app, f"/static/{MODULE}", headers=[(b"if-none-match", etag)])
    assert response["status"] == 304
    assert response["body"] == b""


async def test_head_gives_the_headers_and_no_body():
    response = await _get(StaticFiles(_not_django), f"/static/{MODULE}", method="HEAD")
    assert response["status"] == 200
    assert response["body"] == b""
    assert int(_headers(response)[b"content-length"]) == os.path.getsize(finders.find(MODULE))


@pytest.mark.parametrize(
    "path",
    [
        "/static/../viewerproject/settings.py",
        "/static/%2e%2e/viewerproject/settings.py",
        "/static/frontend/../../manage.py",
        "/static//etc/passwd",
        "/static/no/such/file.js",
        "/static/",
    ],
)
async def test_paths_outside_the_static_roots_or_missing_are_not_found(path):
    app = StaticFiles(_not_django)
    response = await _get(app, path)
    assert response["status"] == 404
    assert app._found == {}  # misses take no room: request paths are anyone's text


async def test_other_methods_are_refused_and_other_paths_go_to_django():
    app = StaticFiles(_not_django)
    assert (await _get(app, f"/static/{MODULE}", method="POST"))["status"] == 405
    assert (await _get(app, "/studies/"))["status"] == 599


async def test_an_edited_file_is_served_fresh(settings, tmp_path):
    settings.STATICFILES_DIRS = [tmp_path]
    asset = tmp_path / "edited.js"
    asset.write_text("export const version = 1;\n")
    app = StaticFiles(_not_django)
    assert (await _get(app, "/static/edited.js"))["body"] == b"export const version = 1;\n"
    asset.write_text("export const version = 22;\n")
    os.utime(asset, ns=(asset.stat().st_atime_ns, asset.stat().st_mtime_ns + 1_000_000))
    assert (await _get(app, "/static/edited.js"))["body"] == b"export const version = 22;\n"


async def test_memory_stays_within_its_byte_bound(settings, tmp_path):
    settings.STATICFILES_DIRS = [tmp_path]
    for index in range(5):
        (tmp_path / f"a{index}.js").write_bytes(b"x" * 1000)
    app = StaticFiles(_not_django, max_total_bytes=2500)
    for index in range(5):
        assert (await _get(app, f"/static/a{index}.js"))["status"] == 200
    assert app._cached_bytes <= 2500
    assert list(app._cache) == ["a3.js", "a4.js"]
