"""The PACS UI in headless Chromium against real processes: our web server (uvicorn,
``python -m viewerproject.serve``), our DICOM listener and retrieve worker as separate processes (so
nothing reaches the page over the in-memory channel layer: the UI must poll), and a real
Orthanc as the PACS, all on free loopback ports.

A clinician searches the PACS from the study list, sees the remote studies marked Remote,
retrieves one with a click, watches its progress reach done and opens it in the viewer; the
viewer lists the patient's remote prior and retrieves it; a viewer left open picks up a
series that arrives after it opened; a PACS that is down is reported as such.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.bench.django_server import ROOT, DjangoServer, archive_environment, manage
from tests.browser import chromium_page, require_chromium, save_screenshot
from tests.dicom_files import make_ct, to_bytes
from tests.pacs.conftest import wait_for
from tests.peers.fixtures import require_orthanc
from tests.peers.orthanc import OrthancPeer
from tests.peers.ports import free_port, port_is_open

pytestmark = pytest.mark.browser

TIMEOUT_MS = 30_000
PATIENT_ID = "PACSUI-7"
AE_TITLE = "DICOMVIEWER"


@dataclass
class RemoteStudy:
    uid: str
    series: list[str]
    description: str


@dataclass
class Site:
    server: DjangoServer
    orthanc: OrthancPeer
    studies: dict[str, RemoteStudy] = field(default_factory=dict)


def load_study(
    orthanc: OrthancPeer, description: str, date: str, series: int, per_series: int
) -> RemoteStudy:
    """A study of ``series`` CT series in Orthanc for PATIENT_ID."""
    study_uid = str(generate_uid())
    series_uids = [str(generate_uid()) for _ in range(series)]
    number = 0
    for index, series_uid in enumerate(series_uids):
        for _ in range(per_series):
            number += 1
            ds = make_ct(
                study_uid=study_uid,
                series_uid=series_uid,
                instance_number=number,
                patient_id=PATIENT_ID,
                patient_name="Remote^Rita",
                rows=64,
                columns=64,
                StudyDescription=description,
                StudyDate=date,
                AccessionNumber=description[:16].replace(" ", ""),
                SeriesNumber=index + 1,
                SeriesDescription=f"Series {index + 1}",
            )
            orthanc.upload(to_bytes(ds))
    return RemoteStudy(study_uid, series_uids, description)


def start_daemon(var_dir: Path, log: Path, *args: str) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=archive_environment(var_dir) | {"DICOM_AE_TITLE": AE_TITLE},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_daemon(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    require_chromium()
    require_orthanc()
    pytest.importorskip("playwright.sync_api")
    parent = tmp_path_factory.mktemp("pacs-ui")
    daemons: list[subprocess.Popen] = []
    with DjangoServer(parent) as server:
        assert server.var_dir is not None
        listener_port = free_port()
        daemons.append(
            start_daemon(
                server.var_dir,
                parent / "listener.log",
                "dicom_listener",
                "--bind",
                "127.0.0.1",
                "--port",
                str(listener_port),
            )
        )
        orthanc = OrthancPeer(
            modalities={"viewer": (AE_TITLE, "127.0.0.1", listener_port)},
            workdir=parent / "orthanc",
        )
        try:
            orthanc.start()
            manage(
                server.var_dir,
                "pacs",
                "add",
                "orthanc",
                "--aet",
                orthanc.aet,
                "--host",
                "127.0.0.1",
                "--port",
                str(orthanc.dicom_port),
            )
            # A PACS nobody listens for: the UI must say it is down.
            manage(
                server.var_dir,
                "pacs",
                "add",
                "down",
                "--aet",
                "DOWN",
                "--host",
                "127.0.0.1",
                "--port",
                str(free_port()),
            )
            daemons.append(
                start_daemon(
                    server.var_dir, parent / "worker.log", "retrieve_worker", "--poll", "0.2"
                )
            )
            wait_for(lambda: port_is_open(listener_port), timeout=30, what="the DICOM listener")
            found = Site(server, orthanc)
            found.studies["current"] = load_study(
                orthanc, "CT CHEST NOW", "20250301", series=2, per_series=6
            )
            found.studies["prior"] = load_study(
                orthanc, "CT CHEST OLD", "20220115", series=1, per_series=4
            )
            found.studies["growing"] = load_study(
                orthanc, "CT ABDO LIVE", "20250302", series=2, per_series=5
            )
            yield found
        finally:
            for process in reversed(daemons):
                stop_daemon(process)
            orthanc.stop()


# --- page helpers --------------------------------------------------------------------------


def log_in(page, server: DjangoServer) -> None:
    page.goto(f"{server.url}/")
    page.fill("#id_username", server.username)
    page.fill("#id_password", server.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")


def search_pacs(page, node: str, patient_id: str) -> None:
    from playwright.sync_api import expect

    panel = page.locator("[data-role=pacs-search]")
    expect(panel.locator("[data-control=node] option[value=orthanc]")).to_have_count(
        1, timeout=TIMEOUT_MS
    )
    panel.locator("[data-control=node]").select_option(node)
    page.fill("#id_patient_id", patient_id)
    panel.locator("[data-action=search-pacs]").click()


def remote_row(page, study_uid: str):
    return page.locator(f"tr.remote-study[data-study-instance-uid='{study_uid}']")


def post_json(page, path: str, body: dict) -> dict:
    """A POST from inside the page, with its session and CSRF token, as the UI sends it."""
    return page.evaluate(
        """async ([path, body]) => {
          const token = document.querySelector('input[name="csrfmiddlewaretoken"]').value;
          const response = await fetch(path, {
            method: 'POST',
            credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
            body: JSON.stringify(body),
          });
          return {status: response.status, body: await response.json()};
        }""",
        [path, body],
    )


def job_state(page, job_id: int) -> str:
    return page.evaluate(
        "async (id) => (await (await fetch(`/pacs/jobs/${id}`)).json()).job.state", job_id
    )


def lit_share(page, index: int = 0) -> float:
    return page.evaluate(
        """(index) => {
          const canvas = document.querySelector(`.viewport[data-viewport="${index}"] canvas`);
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let lit = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (data[i] + data[i + 1] + data[i + 2] > 30) lit += 1;
          }
          return lit / (data.length / 4);
        }""",
        index,
    )


# --- tests -----------------------------------------------------------------------------------


def test_search_pacs_retrieve_with_progress_open_in_viewer_and_retrieve_a_prior(site):
    from playwright.sync_api import expect

    current, prior = site.studies["current"], site.studies["prior"]
    with chromium_page(viewport=(1400, 900)) as page:
        log_in(page, site.server)
        search_pacs(page, "orthanc", PATIENT_ID)

        results = page.locator("[data-role=pacs-results]")
        expect(results).to_be_visible(timeout=TIMEOUT_MS)
        expect(results.locator(".remote-heading")).to_contain_text("Remote")
        expect(results.locator(".remote-heading .remote-badge-node")).to_have_text("orthanc")
        row = remote_row(page, current.uid)
        expect(row).to_have_count(1)
        expect(row.locator(".remote-badge")).to_contain_text("Remote")
        expect(row).to_contain_text("CT CHEST NOW")
        expect(row.locator(".local-share")).to_have_text("Not here")
        expect(remote_row(page, prior.uid)).to_have_count(1)
        # Nothing remote leaked into the local list.
        expect(page.locator("table.study-table")).to_have_count(0)

        # Series level: the study's two series, each retrievable on its own.
        row.get_by_role("button", name="Series").click()
        series_rows = page.locator(".remote-series-row tr[data-remote=true]")
        expect(series_rows).to_have_count(2, timeout=TIMEOUT_MS)
        save_screenshot(page, "pacs-ui-remote-results")

        row.locator(".retrieve-button").click()
        control = row.locator(".retrieve")
        # Live progress, polled from the job row: it reaches done with every instance.
        expect(control).to_have_attribute("data-state", "done", timeout=TIMEOUT_MS)
        expect(control.locator(".retrieve-text")).to_have_text("Done: 12 of 12")
        expect(control.locator("progress")).to_have_attribute("value", "1")
        expect(control.locator(".retrieve-cancel")).to_be_hidden()
        expect(row.locator(".local-share")).to_have_text("All 12 here")
        save_screenshot(page, "pacs-ui-retrieve-done")

        control.locator(".retrieve-open").click()
        page.wait_for_url(f"**/studies/{current.uid}/view/")
        expect(page.locator(".viewer")).to_have_attribute(
            "data-connection", "open", timeout=TIMEOUT_MS
        )
        expect(page.locator(".viewport[data-viewport='0']")).to_have_attribute(
            "data-loaded", re.compile(r".+"), timeout=TIMEOUT_MS
        )
        expect(page.locator(".series-card")).to_have_count(2)
        assert lit_share(page) > 0.1

        # Priors: the older study is on the PACS only; retrieve it from the viewer.
        priors = page.locator("[data-role=priors]")
        expect(priors).to_have_attribute("data-state", "done", timeout=TIMEOUT_MS)
        remote_prior = priors.locator(f"li.prior[data-study-instance-uid='{prior.uid}']")
        expect(remote_prior).to_have_attribute("data-remote", "true")
        expect(remote_prior.locator(".remote-badge-node")).to_have_text("orthanc")
        # The study on show is not its own prior.
        expect(priors.locator(f"li.prior[data-study-instance-uid='{current.uid}']")).to_have_count(
            0
        )
        remote_prior.locator(".retrieve-button").click()
        expect(remote_prior.locator(".retrieve")).to_have_attribute(
            "data-state", "done", timeout=TIMEOUT_MS
        )
        expect(remote_prior.locator(".retrieve-open")).to_be_visible()
        save_screenshot(page, "pacs-ui-viewer-priors")
        errors = page.errors

    assert errors == []


def test_an_open_viewer_shows_a_series_that_arrives_later_without_resetting_the_view(site):
    from playwright.sync_api import expect

    growing = site.studies["growing"]
    with chromium_page() as page:
        log_in(page, site.server)
        first = post_json(
            page,
            "/pacs/retrieve",
            {
                "node": "orthanc",
                "study_instance_uid": growing.uid,
                "series_instance_uid": growing.series[0],
            },
        )
        assert first["status"] == 202, first
        wait_for(
            lambda: job_state(page, first["body"]["job"]["id"]) == "done",
            timeout=60,
            what="series 1",
        )

        page.goto(f"{site.server.url}/studies/{growing.uid}/view/")
        viewport = page.locator(".viewport[data-viewport='0']")
        expect(viewport).to_have_attribute("data-loaded", re.compile(r".+"), timeout=TIMEOUT_MS)
        expect(page.locator(".series-card")).to_have_count(1)
        # The reader zooms in; the arrival must not undo it.
        corner = viewport.locator(".corner-bottom-right")
        fitted = re.search(r"Zoom (\d+)%", corner.inner_text()).group(1)
        page.click("[data-action=zoom-in]")
        expect(corner).not_to_contain_text(f"Zoom {fitted}%")
        zoomed = re.search(r"Zoom \d+%", corner.inner_text()).group(0)

        second = post_json(
            page,
            "/pacs/retrieve",
            {
                "node": "orthanc",
                "study_instance_uid": growing.uid,
                "series_instance_uid": growing.series[1],
            },
        )
        assert second["status"] == 202, second
        # No event crosses from the worker's process: the page's own refresh finds it.
        expect(page.locator(".series-card")).to_have_count(2, timeout=40_000)
        expect(
            page.locator(f".series-card[data-series-instance-uid='{growing.series[1]}']")
        ).to_have_attribute("data-images", "5", timeout=TIMEOUT_MS)
        # The series on show grew nothing, and the reader's zoom is where it was.
        expect(viewport).to_have_attribute("data-series", growing.series[0])
        expect(corner).to_contain_text(zoomed)
        save_screenshot(page, "pacs-ui-viewer-grew")
        errors = page.errors

    assert errors == []


def test_a_series_growing_on_show_keeps_the_image_and_zoom_of_its_viewport(site, tmp_path):
    """Instances added by another process (the CLI import here, as a retrieve worker would)
    reach an open viewer through its periodic refresh; the stack grows in place."""
    from playwright.sync_api import expect

    study_uid, series_uid = str(generate_uid()), str(generate_uid())
    for number in range(1, 7):
        ds = make_ct(
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=number,
            patient_id="GROW-1",
            rows=64,
            columns=64,
        )
        part = tmp_path / ("first" if number <= 3 else "second")
        part.mkdir(exist_ok=True)
        (part / f"{number}.dcm").write_bytes(to_bytes(ds))
    assert site.server.var_dir is not None
    manage(site.server.var_dir, "import_dicom", str(tmp_path / "first"))

    with chromium_page() as page:
        log_in(page, site.server)
        page.goto(f"{site.server.url}/studies/{study_uid}/view/")
        viewport = page.locator(".viewport[data-viewport='0']")
        expect(viewport).to_have_attribute("data-loaded", re.compile(r".+"), timeout=TIMEOUT_MS)
        corner = viewport.locator(".corner-bottom-right")
        fitted = re.search(r"Zoom (\d+)%", corner.inner_text()).group(1)
        page.click("[data-action=zoom-in]")
        expect(corner).not_to_contain_text(f"Zoom {fitted}%")
        zoomed = re.search(r"Zoom \d+%", corner.inner_text()).group(0)
        viewport.hover()
        page.mouse.wheel(0, 120)
        expect(viewport.locator(".corner-bottom-left")).to_contain_text("Im 2/3")
        expect(viewport).to_have_attribute("data-loaded", re.compile(r".+"), timeout=TIMEOUT_MS)
        shown = viewport.get_attribute("data-loaded").split("/")[0]

        manage(site.server.var_dir, "import_dicom", str(tmp_path / "second"))
        card = page.locator(f".series-card[data-series-instance-uid='{series_uid}']")
        expect(card).to_have_attribute("data-images", "6", timeout=40_000)
        expect(viewport.locator(".corner-bottom-left")).to_contain_text("Im 2/6")
        expect(corner).to_contain_text(zoomed)
        # Still the same image, never blanked for a reload.
        expect(viewport).to_have_attribute("data-loaded", re.compile(rf"^{re.escape(shown)}/"))
        save_screenshot(page, "pacs-ui-viewer-stack-grew")
        errors = page.errors

    assert errors == []


def test_a_retrieve_that_cannot_finish_is_cancelled_from_the_list(site):
    """The Retrieve click is redirected (in the browser) to the node that is down, so the
    job stays queued between attempts; Cancel ends it and the row says so."""
    import json

    from playwright.sync_api import expect

    prior = site.studies["prior"]
    with chromium_page() as page:

        def to_down_node(route) -> None:
            body = json.loads(route.request.post_data or "{}")
            route.continue_(post_data=json.dumps({**body, "node": "down"}))

        page.route("**/pacs/retrieve", to_down_node)
        log_in(page, site.server)
        search_pacs(page, "orthanc", PATIENT_ID)
        row = remote_row(page, prior.uid)
        expect(row).to_have_count(1, timeout=TIMEOUT_MS)
        row.locator(".retrieve-button").click()
        control = row.locator(".retrieve")
        cancel = control.locator(".retrieve-cancel")
        expect(cancel).to_be_visible(timeout=TIMEOUT_MS)
        expect(control).to_have_attribute("data-state", re.compile(r"queued|running"))
        cancel.click()
        expect(control).to_have_attribute("data-state", "cancelled", timeout=TIMEOUT_MS)
        expect(control.locator(".retrieve-text")).to_contain_text("Cancelled")
        expect(cancel).to_be_hidden()
        expect(control.locator(".retrieve-button")).to_have_text("Retry")
        # A study already here (when the first test retrieved it) can still be opened.
        if row.locator(".local-share").inner_text() == "Not here":
            expect(control.locator(".retrieve-open")).to_be_hidden()
        else:
            expect(control.locator(".retrieve-open")).to_be_visible()
        save_screenshot(page, "pacs-ui-retrieve-cancelled")
        job_id = int(control.get_attribute("data-job-id"))
        assert job_state(page, job_id) == "cancelled"
        errors = page.errors

    assert errors == []


def test_a_pacs_that_is_down_is_reported_in_the_panel(site):
    from playwright.sync_api import expect

    with chromium_page() as page:
        log_in(page, site.server)
        search_pacs(page, "down", PATIENT_ID)
        message = page.locator("[data-role=pacs-message]")
        expect(message).to_have_attribute("role", "alert", timeout=TIMEOUT_MS)
        expect(message).to_contain_text("down: The PACS did not answer")
        expect(page.locator("[data-role=pacs-results]")).to_be_hidden()
        save_screenshot(page, "pacs-ui-pacs-down")
        errors = page.errors

    assert errors == []
