"""A signed launch in Chromium against a real ASGI server (uvicorn): the link opens the right study
and its first pixels appear; a tampered link shows its 403 page."""

from __future__ import annotations

import re

from tests.bench.django_server import DjangoServer, manage
from tests.browser import chromium_page, save_screenshot

TIMEOUT_MS = 20_000


def launch_url(server: DjangoServer, study_uid: str) -> str:
    out = manage(
        server.var_dir,
        "make_launch_url",
        "--emr",
        "ris",
        "--study",
        study_uid,
        "--base-url",
        server.url,
    )
    return out.strip()


def test_a_signed_launch_opens_the_study_and_first_pixels_appear(emr_server):
    from playwright.sync_api import expect

    server, study_uid = emr_server
    with chromium_page() as page:
        page.goto(launch_url(server, study_uid))
        page.wait_for_url(f"**/studies/{study_uid}/view/")
        viewer = page.locator(".viewer")
        expect(viewer).to_have_attribute("data-connection", "open", timeout=TIMEOUT_MS)
        first = page.locator(".viewport[data-viewport='0']")
        expect(first).to_have_attribute("data-loaded", re.compile(r".+"), timeout=TIMEOUT_MS)
        lit = page.evaluate(
            """() => {
              const canvas = document.querySelector('.viewport[data-viewport="0"] canvas');
              const context = canvas.getContext('2d');
              const d = context.getImageData(0, 0, canvas.width, canvas.height).data;
              let lit = 0;
              for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 30) lit += 1;
              return lit / (d.length / 4);
            }"""
        )
        save_screenshot(page, "emr-launch-first-pixels")
        errors = page.errors
    assert errors == []
    assert lit > 0.05, lit


def test_a_tampered_link_shows_the_tampered_page(emr_server):
    server, study_uid = emr_server
    tampered = launch_url(server, study_uid).replace(study_uid, study_uid + ".1")
    with chromium_page() as page:
        response = page.goto(tampered)
        assert response is not None and response.status == 403
        heading = page.locator("h1").inner_text()
        reason = page.locator("[data-launch-refusal]").get_attribute("data-launch-refusal")
    assert (heading, reason) == ("This link has been altered", "tampered")
