"""The command line: ``pacs``, ``retrieve``, and the two daemons started and stopped as
separate processes the way ``make run`` does."""

from __future__ import annotations

import signal
import subprocess
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from studies.models import Instance, KnownSender, PacsNode, RetrieveJob
from studies.pacs.worker import RetrieveWorker
from tests.pacs.conftest import REPO, dcmtk, manage_command, process_env, wait_for
from tests.peers.ports import free_port, port_is_open

State = RetrieveJob.State


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_pacs_add_creates_then_updates_a_node(db):
    run("pacs", "add", "main", "--aet", "MAINPACS", "--host", "10.1.2.3", "--port", "104")
    node = PacsNode.objects.get(name="main")
    assert (node.ae_title, node.port, node.retrieve_method) == ("MAINPACS", 104, "move")
    assert node.calling_ae_title == "DICOMVIEWER" and node.may_store

    output = run(
        "pacs", "add", "main", "--aet", "MAINPACS", "--host", "10.1.2.3", "--port", "4242",
        "--method", "get", "--local-aet", "VIEWER2", "--no-store",
    )  # fmt: skip
    assert output.startswith("updated")
    node.refresh_from_db()
    assert (node.port, node.retrieve_method, node.calling_ae_title) == (4242, "get", "VIEWER2")
    assert not node.may_store


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aet", "A" * 17, "--host", "h", "--port", "104"], "16 characters"),
        (["--aet", "BAD\\AE", "--host", "h", "--port", "104"], "backslash"),
        (["--aet", "OK", "--host", "h", "--port", "70000"], "port"),
    ],
)
def test_pacs_add_refuses_invalid_values(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("pacs", "add", "bad", *args)
    assert not PacsNode.objects.exists()


def test_pacs_list_shows_nodes_and_senders(db):
    PacsNode.objects.create(name="main", ae_title="MAINPACS", host="10.1.2.3", port=104)
    KnownSender.objects.create(ae_title="CT01", host="10.9.9.9")
    output = run("pacs", "list")
    assert "main\tMAINPACS@10.1.2.3:104\tmove\tcalling as DICOMVIEWER" in output
    assert "never tested" in output
    assert "sender\tCT01 from 10.9.9.9" in output


@pytest.mark.orthanc
def test_pacs_echo_reports_and_records_the_outcome(pacs):
    assert "C-ECHO answered" in run("pacs", "echo", "orthanc")
    pacs.node.refresh_from_db()
    assert pacs.node.last_echo_ok is True and pacs.node.last_echo_at


def test_pacs_echo_of_a_node_that_is_down_fails_with_the_reason(db, settings):
    settings.DICOM_CONNECT_TIMEOUT = 5
    PacsNode.objects.create(name="down", ae_title="DOWN", host="127.0.0.1", port=free_port())
    with pytest.raises(CommandError, match="cannot connect"):
        run("pacs", "echo", "down")
    assert PacsNode.objects.get(name="down").last_echo_ok is False


def test_pacs_echo_of_an_unknown_node_names_the_known_ones(db):
    PacsNode.objects.create(name="main", ae_title="MAINPACS", host="10.1.2.3", port=104)
    with pytest.raises(CommandError, match="known: main"):
        run("pacs", "echo", "nowhere")


def test_pacs_allow_and_disallow_manage_known_senders(db):
    run("pacs", "allow", "CT01", "--host", "10.9.9.9")
    assert KnownSender.objects.get().host == "10.9.9.9"
    run("pacs", "disallow", "CT01")
    assert not KnownSender.objects.exists()
    with pytest.raises(CommandError):
        run("pacs", "disallow", "CT01")


def test_pacs_remove_refuses_a_node_with_jobs(db):
    node = PacsNode.objects.create(name="main", ae_title="MAINPACS", host="10.1.2.3", port=104)
    RetrieveJob.objects.create(node=node, study_instance_uid="1.2.3")
    with pytest.raises(CommandError, match="has retrieve jobs"):
        run("pacs", "remove", "main")
    RetrieveJob.objects.all().delete()
    run("pacs", "remove", "main")
    assert not PacsNode.objects.exists()


def test_retrieve_queues_a_job(db):
    PacsNode.objects.create(name="main", ae_title="MAINPACS", host="10.1.2.3", port=104)
    output = run("retrieve", "--node", "main", "--study", "1.2.3.4")
    job = RetrieveJob.objects.get()
    assert output.strip() == f"queued retrieve job {job.pk}"
    assert run("retrieve", "--node", "main", "--study", "1.2.3.4").startswith("already active")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--node", "nowhere", "--study", "1.2.3"], "no PACS node named"),
        (["--node", "main", "--study", "1.2.x"], "not a valid UID"),
    ],
)
def test_retrieve_with_bad_arguments_fails_clearly(db, args, message):
    PacsNode.objects.create(name="main", ae_title="MAINPACS", host="10.1.2.3", port=104)
    with pytest.raises(CommandError, match=message):
        run("retrieve", *args)


def test_retrieve_wait_gives_up_after_its_timeout_when_no_worker_runs(db):
    PacsNode.objects.create(name="main", ae_title="MAINPACS", host="10.1.2.3", port=104)
    with pytest.raises(CommandError, match="still queued"):
        run("retrieve", "--node", "main", "--study", "1.2.3.4", "--wait", "--timeout", "0.5")


@pytest.mark.orthanc
def test_retrieve_wait_reports_progress_until_done(pacs, fast_retries):
    study, _, sops = pacs.load_study(per_series=3)
    worker = RetrieveWorker(threads=1, poll_seconds=0.1, name="test")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        output = run("retrieve", "--node", "orthanc", "--study", study, "--wait", "--timeout", "60")
    finally:
        worker.stop()
        thread.join(timeout=60)
    assert output.splitlines()[-1].startswith("done: 3/3 received, 0 failed")
    assert Instance.objects.count() == len(sops)


def test_dicom_listener_serves_until_sigterm(transactional_db):
    KnownSender.objects.create(ae_title="STORESCU")
    port = free_port()
    process = subprocess.Popen(
        manage_command("dicom_listener", "--bind", "127.0.0.1", "--port", str(port)),
        cwd=REPO,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: port_is_open(port) or process.poll() is not None, 30, "the listener")
        echo = dcmtk("echoscu", "-aet", "STORESCU", "-aec", "DICOMVIEWER", "127.0.0.1", port)
        assert echo.returncode == 0, echo.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(f"listener did not stop: {out} {err}")
    assert process.returncode == 0, err
    assert f"DICOM listener DICOMVIEWER on 127.0.0.1:{port}" in out
    assert "stopping" in out


def test_dicom_listener_on_a_port_in_use_fails_clearly(transactional_db):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            manage_command("dicom_listener", "--bind", "127.0.0.1", "--port", str(port)),
            cwd=REPO,
            env=process_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.orthanc
def test_retrieve_worker_stopped_by_sigterm_requeues_its_job_without_spending_an_attempt(
    pacs, fast_retries
):
    study, _, _ = pacs.load_study(per_series=60, size=512)
    job = RetrieveJob.objects.create(node=pacs.node, study_instance_uid=study)
    process = subprocess.Popen(
        manage_command("retrieve_worker", "--threads", "1", "--poll", "0.1"),
        cwd=REPO,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: Instance.objects.count() >= 2, 60, "the first instances")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    job.refresh_from_db()
    assert Instance.objects.count() < 60, "the study finished before SIGTERM; make it larger"
    assert job.state == State.QUEUED
    assert job.attempts == 0
    assert "resumes where it left off" in job.error
    assert "stopped after 1 job runs" in out
