"""The Orthanc test peer: starts on loopback, stores over REST and STOW-RS, answers QIDO-RS."""

from __future__ import annotations

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification
from requests.auth import HTTPBasicAuth

from tests.dicom_files import make_ct, to_bytes
from tests.peers import fixtures as peer_fixtures
from tests.peers.orthanc import OrthancPeer
from tests.peers.ports import port_is_open

pytestmark = pytest.mark.orthanc
orthanc = peer_fixtures.orthanc
orthanc_factory = peer_fixtures.orthanc_factory


def dicomweb(peer: OrthancPeer) -> DICOMwebClient:
    session = requests.Session()
    session.auth = HTTPBasicAuth(*peer.auth)
    return DICOMwebClient(url=peer.dicomweb_url, session=session)


def test_orthanc_answers_system_on_loopback_with_credentials_only(orthanc):
    system = orthanc.request("GET", "/system").json()
    assert system["DicomAet"] == orthanc.aet
    assert system["DicomPort"] == orthanc.dicom_port
    assert system["HttpPort"] == orthanc.http_port
    assert requests.get(orthanc.url + "/system", timeout=5).status_code == 401
    wrong = requests.get(orthanc.url + "/system", auth=(orthanc.username, "wrong"), timeout=5)
    assert wrong.status_code == 401


def test_instance_posted_to_rest_is_found_by_qido(orthanc):
    study_uid = generate_uid()
    answer = orthanc.upload(to_bytes(make_ct(study_uid=study_uid, patient_id="QIDO-1")))
    assert answer["Status"] == "Success"

    client = dicomweb(orthanc)
    studies = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
    assert len(studies) == 1
    assert studies[0]["00100020"]["Value"] == ["QIDO-1"]
    assert client.search_for_studies(search_filters={"PatientID": "NOBODY"}) == []


def test_series_stored_with_stow_rs_is_counted_and_listed(orthanc):
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = [
        make_ct(study_uid=study_uid, series_uid=series_uid, instance_number=i) for i in (1, 2, 3)
    ]
    client = dicomweb(orthanc)
    client.store_instances(datasets=datasets)

    assert orthanc.instance_count() == 3
    instances = client.search_for_instances(study_uid, series_uid)
    assert sorted(i["00080018"]["Value"][0] for i in instances) == sorted(
        ds.SOPInstanceUID for ds in datasets
    )


def test_dicom_port_answers_c_echo(orthanc):
    ae = AE(ae_title="ECHO_SCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", orthanc.dicom_port, ae_title=orthanc.aet)
    assert assoc.is_established
    try:
        status = assoc.send_c_echo()
        assert status.Status == 0x0000
    finally:
        assoc.release()


def test_registered_modality_appears_in_orthanc_configuration(orthanc_factory):
    peer = orthanc_factory(modalities={"viewer": ("VIEWER", "127.0.0.1", 11112)})
    modalities = peer.request("GET", "/modalities", params={"expand": ""}).json()
    assert modalities["viewer"]["AET"] == "VIEWER"
    assert modalities["viewer"]["Port"] == 11112


def test_stop_ends_the_process_frees_the_ports_and_removes_its_files():
    peer_fixtures.require_orthanc()
    peer = OrthancPeer().start()
    workdir, http_port, dicom_port = peer.workdir, peer.http_port, peer.dicom_port
    assert peer.running and port_is_open(http_port) and port_is_open(dicom_port)
    process = peer.process
    peer.stop()
    assert process.returncode is not None
    assert not peer.running
    assert not port_is_open(http_port) and not port_is_open(dicom_port)
    assert not workdir.exists()
