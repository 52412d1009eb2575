"""The SR round trip in Chromium against a real ASGI server (uvicorn) and a real Orthanc: a length
measured in the viewer → "Save" (sent to the PACS node) → the Measurement Report is in the
archive → the study reopened shows the same value on the same image → Orthanc holds the SR
(its REST API). Then a key image flagged and saved as a Key Object Selection."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.bench.django_server import DjangoServer, manage
from tests.browser import chromium_page, save_screenshot
from tests.emr.conftest import BROWSER_SIZE as SIZE
from tests.peers.fixtures import require_orthanc
from tests.peers.orthanc import OrthancPeer

pytestmark = [pytest.mark.browser, pytest.mark.orthanc]

PIXEL_MM = 400.0 / SIZE  # the phantom's field of view over its matrix
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def orthanc_peer(tmp_path_factory) -> Iterator[OrthancPeer]:
    require_orthanc()
    # Our server's AE title as a known modality, so Orthanc answers the priors panel's C-FIND
    # and takes the report's C-STORE.
    peer = OrthancPeer(
        modalities={"viewer": ("DICOMVIEWER", "127.0.0.1", 104)},
        workdir=tmp_path_factory.mktemp("orthanc"),
    )
    with peer:
        yield peer


@pytest.fixture(scope="module")
def report_server(emr_server, orthanc_peer) -> tuple[DjangoServer, str]:
    """The package's browser server, with Orthanc as its PACS node ``orthanc``."""
    server, study_uid = emr_server
    manage(
        server.var_dir,
        "shell",
        "-c",
        "import os; from studies.models import PacsNode; PacsNode.objects.update_or_create("
        "name='orthanc', defaults={'ae_title': os.environ['AET'], 'host': '127.0.0.1',"
        " 'port': int(os.environ['PORT'])})",
        AET=orthanc_peer.aet,
        PORT=str(orthanc_peer.dicom_port),
    )
    return server, study_uid


def open_viewer(page, server: DjangoServer, study_uid: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/studies/{study_uid}/view/")
    expect(page.locator(".viewer")).to_have_attribute("data-connection", "open", timeout=TIMEOUT_MS)
    first = page.locator(".viewport[data-viewport='0']")
    expect(first).to_have_attribute("data-loaded", re.compile(r".+"), timeout=TIMEOUT_MS)
    # The saved report, if any, has been read back.
    expect(page.locator("[data-role='report-status']")).not_to_have_attribute(
        "data-state", "loading", timeout=TIMEOUT_MS
    )


def image_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of an image pixel in the fitted, unrotated first viewport."""
    box = page.locator(".viewport[data-viewport='0']").bounding_box()
    assert box is not None
    zoom = min(box["width"], box["height"]) / SIZE
    left = box["x"] + (box["width"] - SIZE * zoom) / 2
    top = box["y"] + (box["height"] - SIZE * zoom) / 2
    return left + x * zoom, top + y * zoom


def test_measure_save_reopen_and_find_it_in_orthanc(report_server, orthanc_peer):
    from playwright.sync_api import expect

    server, study_uid = report_server
    with chromium_page() as page:
        page.goto(f"{server.url}/accounts/login/")
        page.fill("#id_username", server.username)
        page.fill("#id_password", server.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/")
        open_viewer(page, server, study_uid)
        shown = page.locator(".viewport[data-viewport='0']").get_attribute("data-loaded")

        # Measure a length of 40 image pixels.
        page.keyboard.press("l")
        page.mouse.move(*image_point(page, 10, 32))
        page.mouse.down()
        page.mouse.move(*image_point(page, 50, 32), steps=6)
        page.mouse.up()
        label = page.locator(".viewport[data-viewport='0'] .measurement.is-done .measurement-label")
        expect(label).to_contain_text("mm", timeout=TIMEOUT_MS)
        measured = label.text_content()

        # Save it, also sent to the PACS node.
        page.select_option("select[data-control=send-to]", "orthanc")
        page.click("button[data-action=save-measurements]")
        status = page.locator("[data-role='report-status']")
        expect(status).to_have_attribute("data-state", "saved", timeout=TIMEOUT_MS)
        said = status.text_content()
        sop_uid = status.get_attribute("data-sop-instance-uid")
        save_screenshot(page, "emr-report-saved")

        # The SR is in the archive (asked over DICOMweb with the page's session).
        found = page.request.get(
            f"{server.url}/dicomweb/studies/{study_uid}/instances?SOPInstanceUID={sop_uid}"
        )
        assert found.status == 200
        (sr,) = found.json()
        assert sr["00080016"]["Value"] == ["1.2.840.10008.5.1.4.1.1.88.34"]  # Comprehensive 3D SR

        # Reopened: the same value on the same image, read back from the SR.
        open_viewer(page, server, study_uid)
        assert page.locator(".viewport[data-viewport='0']").get_attribute("data-loaded") == shown
        expect(label).to_have_count(1, timeout=TIMEOUT_MS)
        reopened = label.text_content()
        restored_note = status.text_content()

        # A key image, saved as a Key Object Selection and sent too.
        page.select_option("select[data-control=send-to]", "orthanc")
        page.keyboard.press("k")
        expect(page.locator("button[data-action=toggle-key-image]")).to_have_attribute(
            "aria-pressed", "true", timeout=TIMEOUT_MS
        )
        page.keyboard.press("K")
        expect(status).to_have_attribute("data-state", "saved", timeout=TIMEOUT_MS)
        kos_said = status.text_content()
        save_screenshot(page, "emr-report-reopened")
        errors = page.errors

    assert errors == []
    millimetres = float(re.search(r"([\d.]+) mm", measured).group(1))
    assert abs(millimetres - 40 * PIXEL_MM) < 2 * PIXEL_MM, measured
    assert "Saved 1 measurement" in said and "sent to orthanc" in said, said
    assert reopened == measured
    assert "1 saved measurement" in restored_note, restored_note
    assert "Saved 1 key image" in kos_said and "sent to orthanc" in kos_said, kos_said
    # Orthanc holds the SR, and the KOS beside it.
    lookup = orthanc_peer.request("POST", "/tools/lookup", data=sop_uid).json()
    assert [entry["Type"] for entry in lookup] == ["Instance"]
    assert orthanc_peer.instance_count() == 2
