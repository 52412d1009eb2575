"""DICOM over TLS: DCMTK's echoscu and storescu in TLS mode against our listener, which
takes TLS 1.2+ only and verifies the client's certificate (PS3.15 B.1)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from studies.models import Instance, KnownSender
from studies.pacs.listener import Listener
from studies.pacs.tls import server_context
from tests.dicom_files import make_ct, to_bytes
from tests.pacs.conftest import dcmtk

AET = "DICOMVIEWER"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def issue(directory: Path, name: str, common_name: str) -> None:
    """A key and a certificate for ``name``, signed by the test CA in ``directory``."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={common_name}", cwd=directory)  # fmt: skip
    (directory / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-out", f"{name}.crt",
            "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    directory = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "1", "-subj", "/CN=Test DICOM CA", cwd=directory)  # fmt: skip
    issue(directory, "server", "127.0.0.1")
    issue(directory, "client", "STORESCU")
    # A client whose certificate comes from a CA the listener does not trust.
    other = directory / "other"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "1", "-subj", "/CN=Other CA", cwd=other)  # fmt: skip
    issue(other, "client", "STORESCU")
    return directory


@pytest.fixture
def tls_listener(transactional_db, pki):
    KnownSender.objects.create(ae_title="STORESCU", description="DCMTK over TLS")
    context = server_context(pki / "server.crt", pki / "server.key", pki / "ca.crt")
    with Listener(host="127.0.0.1", port=0, ssl_context=context) as running:
        yield running


def tls_client(pki: Path, key_dir: Path | None = None) -> list[str]:
    key_dir = key_dir or pki
    return ["+tls", key_dir / "client.key", key_dir / "client.crt", "+cf", pki / "ca.crt", "-pw"]


def test_context_refuses_anything_older_than_tls_1_2(pki):
    context = server_context(pki / "server.crt", pki / "server.key", pki / "ca.crt")
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_echoscu_with_a_trusted_client_certificate_is_answered(tls_listener, pki):
    result = dcmtk("echoscu", *tls_client(pki), "-aet", "STORESCU", "-aec", AET,
                   "127.0.0.1", tls_listener.port)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_storescu_over_tls_stores_the_instance(tls_listener, pki, tmp_path):
    ds = make_ct()
    path = tmp_path / "ct.dcm"
    path.write_bytes(to_bytes(ds))
    result = dcmtk("storescu", *tls_client(pki), "-aet", "STORESCU", "-aec", AET,
                   "127.0.0.1", tls_listener.port, path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert Instance.objects.filter(sop_instance_uid=str(ds.SOPInstanceUID)).exists()


def test_client_without_a_certificate_is_refused(tls_listener, pki):
    result = dcmtk("echoscu", "+tla", "+cf", pki / "ca.crt", "-aet", "STORESCU", "-aec", AET,
                   "127.0.0.1", tls_listener.port)  # fmt: skip
    assert result.returncode != 0


def test_client_certificate_from_an_untrusted_ca_is_refused(tls_listener, pki):
    result = dcmtk("echoscu", *tls_client(pki, pki / "other"), "-aet", "STORESCU",
                   "-aec", AET, "127.0.0.1", tls_listener.port)  # fmt: skip
    assert result.returncode != 0


def test_plain_tcp_client_gets_no_association(tls_listener):
    result = dcmtk("echoscu", "-to", "5", "-ta", "5", "-aet", "STORESCU", "-aec", AET,
                   "127.0.0.1", tls_listener.port, timeout=30)  # fmt: skip
    assert result.returncode != 0


def test_trusted_certificate_does_not_bypass_the_ae_allow_list(tls_listener, pki):
    result = dcmtk("echoscu", *tls_client(pki), "-aet", "STRANGER", "-aec", AET,
                   "127.0.0.1", tls_listener.port)  # fmt: skip
    assert result.returncode != 0


def test_dicom_listener_command_serves_tls_beside_plain_when_a_certificate_is_set(
    transactional_db, pki
):
    import signal

    from tests.pacs.conftest import manage_command, process_env, wait_for
    from tests.peers.ports import free_port, port_is_open

    KnownSender.objects.create(ae_title="STORESCU")
    plain_port, tls_port = free_port(), free_port()
    process = subprocess.Popen(
        manage_command("dicom_listener", "--bind", "127.0.0.1", "--port", str(plain_port),
                       "--tls-port", str(tls_port)),
        cwd=Path(__file__).resolve().parents[2],
        env=process_env(DICOM_TLS_CERT_FILE=str(pki / "server.crt"),
                        DICOM_TLS_KEY_FILE=str(pki / "server.key"),
                        DICOM_TLS_CA_FILE=str(pki / "ca.crt")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: port_is_open(tls_port) or process.poll() is not None, 30, "TLS port")
        secured = dcmtk("echoscu", *tls_client(pki), "-aet", "STORESCU", "-aec", AET,
                        "127.0.0.1", tls_port)  # fmt: skip
        plain = dcmtk("echoscu", "-aet", "STORESCU", "-aec", AET, "127.0.0.1", plain_port)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert secured.returncode == 0, secured.stdout + secured.stderr
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"127.0.0.1:{tls_port} (TLS, client certificates required)" in out, out + err
