"""STOW-RS (PS3.18 10.5): dicomweb-client storing into the live archive over HTTP."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import urlsplit

import pydicom
import pytest
import requests
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator

from studies.dicomweb.multipart import (
    MultipartError,
    TooLarge,
    UnsupportedMediaType,
    parse_related,
    spooled_parts,
)
from studies.models import Instance, QuarantinedFile, Study
from tests import dicomweb_server
from tests.dicom_files import make_ct, sample_path, to_bytes
from tests.dicomweb_server import (
    USERNAME,
    decoded,
    multipart_body,
    post_parts,
    sequence,
    value,
)

# Fixtures shared with the other DICOMweb tests: a live server's user and its clients.
dicomweb = dicomweb_server.dicomweb
peer_session = dicomweb_server.peer_session
peer_user = dicomweb_server.peer_user

REFERENCED, FAILED, RETRIEVE_URL = "00081199", "00081198", "00081190"
SOP_CLASS, SOP_INSTANCE, FAILURE_REASON = "00081150", "00081155", "00081197"
REASON_TEXT, REASON_CODE = "00091001", "00091002"


def studies_url(live_server) -> str:
    return f"{live_server.url}/dicomweb/studies"


def test_store_instances_with_dicomweb_client_stores_real_files(dicomweb):
    ct = pydicom.dcmread(sample_path("CT_small.dcm"))
    mr = pydicom.dcmread(sample_path("MR_small.dcm"))

    response = dicomweb.store_instances([ct, mr])

    referenced = response.ReferencedSOPSequence
    assert {item.ReferencedSOPInstanceUID for item in referenced} == {
        ct.SOPInstanceUID,
        mr.SOPInstanceUID,
    }
    assert {item.ReferencedSOPClassUID for item in referenced} == {ct.SOPClassUID, mr.SOPClassUID}
    assert "FailedSOPSequence" not in response
    stored_ct = next(i for i in referenced if i.ReferencedSOPInstanceUID == ct.SOPInstanceUID)
    # dicomweb-client sends "Host" without the port, and the URL follows the Host header.
    assert urlsplit(stored_ct.RetrieveURL).path == (
        f"/dicomweb/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}"
        f"/instances/{ct.SOPInstanceUID}"
    )
    # Two studies in one request: no single study Retrieve URL (Type 2, empty).
    assert response.RetrieveURL in ("", None)
    rows = Instance.objects.filter(sop_instance_uid__in=[ct.SOPInstanceUID, mr.SOPInstanceUID])
    assert {(r.source, r.source_detail) for r in rows} == {(Instance.Source.STOW, USERNAME)}


def test_mixed_batch_stores_good_parts_and_reports_each_bad_one(peer_session, live_server):
    good = sample_path("CT_small.dcm").read_bytes()
    truncated = sample_path("MR_truncated.dcm").read_bytes()
    generated = make_ct()

    response = post_parts(
        peer_session,
        studies_url(live_server),
        [good, truncated, b"this is not a DICOM file", to_bytes(generated)],
    )

    assert response.status_code == 202
    assert response.headers["Warning"].startswith("299 ")
    body = decoded(response)
    referenced = sequence(body, REFERENCED)
    assert {value(item, SOP_INSTANCE) for item in referenced} == {
        pydicom.dcmread(io.BytesIO(good)).SOPInstanceUID,
        generated.SOPInstanceUID,
    }
    failed = sequence(body, FAILED)
    assert [value(item, FAILURE_REASON) for item in failed] == [0xA900, 0xC000]
    assert [value(item, REASON_CODE) for item in failed] == ["pixel_data_length", "not_dicom"]
    assert value(failed[0], REASON_TEXT).startswith("part 2: pixel data is 8,130 bytes")
    assert value(failed[1], REASON_TEXT).startswith("part 3: not a DICOM file")
    # The truncated file still names its instance; the text part has nothing to name.
    truncated_ds = pydicom.dcmread(io.BytesIO(truncated))
    assert value(failed[0], SOP_INSTANCE) == truncated_ds.SOPInstanceUID
    assert value(failed[0], SOP_CLASS) == truncated_ds.SOPClassUID
    assert failed[1][SOP_INSTANCE] == {"vr": "UI"}
    assert Instance.objects.count() == 2
    quarantined = QuarantinedFile.objects.order_by("original_name")
    assert [(q.original_name, q.reason_code, q.source) for q in quarantined] == [
        ("part 2", "pixel_data_length", Instance.Source.STOW),
        ("part 3", "not_dicom", Instance.Source.STOW),
    ]


def test_batch_with_no_storable_part_is_409_with_every_failure(dicomweb, peer_session, live_server):
    response = post_parts(
        peer_session,
        studies_url(live_server),
        [sample_path("MR_truncated.dcm").read_bytes(), b"\x00" * 200],
    )

    assert response.status_code == 409
    failed = sequence(decoded(response), FAILED)
    assert [value(item, FAILURE_REASON) for item in failed] == [0xA900, 0xC000]
    assert REFERENCED not in decoded(response)
    assert Instance.objects.count() == 0
    # The client library sees the same answer as a failed request.
    with pytest.raises(requests.HTTPError) as error:
        dicomweb._http_post_multipart_application_dicom(studies_url(live_server), [b"junk"])
    assert error.value.response.status_code == 409


def test_duplicate_instance_is_reported_as_stored(dicomweb):
    ct = pydicom.dcmread(sample_path("CT_small.dcm"))
    dicomweb.store_instances([ct])

    again = dicomweb.store_instances([ct])

    assert [i.ReferencedSOPInstanceUID for i in again.ReferencedSOPSequence] == [ct.SOPInstanceUID]
    assert "FailedSOPSequence" not in again
    assert Instance.objects.filter(sop_instance_uid=ct.SOPInstanceUID).count() == 1


def test_store_into_a_study_refuses_instances_of_other_studies(peer_session, live_server):
    study_uid = "1.2.826.0.1.3680043.9.7433.1.1"
    inside = make_ct(study_uid=study_uid)
    outside = make_ct()

    response = post_parts(
        peer_session,
        f"{studies_url(live_server)}/{study_uid}",
        [to_bytes(inside), to_bytes(outside)],
    )

    assert response.status_code == 202
    body = decoded(response)
    assert value(body, RETRIEVE_URL) == f"{studies_url(live_server)}/{study_uid}"
    [failed] = sequence(body, FAILED)
    assert value(failed, FAILURE_REASON) == 0xA900
    assert value(failed, REASON_CODE) == "study_mismatch"
    assert value(failed, SOP_INSTANCE) == outside.SOPInstanceUID
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [study_uid]


def test_wrong_media_type_is_415(peer_session, live_server):
    single = peer_session.post(
        studies_url(live_server),
        data=sample_path("CT_small.dcm").read_bytes(),
        headers={"Content-Type": "application/dicom"},
    )
    json_metadata = post_parts(
        peer_session,
        studies_url(live_server),
        [b"[]"],
        content_type='multipart/related; type="application/dicom+json"; boundary=x',
    )

    assert single.status_code == 415
    assert json_metadata.status_code == 415
    assert single.headers["Content-Type"].startswith("text/plain")
    assert Instance.objects.count() == 0


def test_malformed_multipart_is_400_and_stores_nothing(peer_session, live_server):
    good = sample_path("CT_small.dcm").read_bytes()
    cut_short = multipart_body([good, good])[:-40]  # no closing boundary

    truncated = peer_session.post(
        studies_url(live_server),
        data=cut_short,
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=b1'},
    )
    no_boundary = peer_session.post(
        studies_url(live_server),
        data=multipart_body([good]),
        headers={"Content-Type": 'multipart/related; type="application/dicom"'},
    )

    assert truncated.status_code == 400
    assert no_boundary.status_code == 400
    assert Instance.objects.count() == 0


def test_request_over_the_stow_limit_is_413_and_stores_nothing(peer_session, live_server, settings):
    settings.STOW_MAX_REQUEST_BYTES = 20_000

    response = post_parts(
        peer_session, studies_url(live_server), [sample_path("CT_small.dcm").read_bytes()]
    )

    assert response.status_code == 413
    assert Instance.objects.count() == 0


def test_body_larger_than_django_upload_buffer_is_streamed(peer_session, live_server, settings):
    # request.body would refuse anything over DATA_UPLOAD_MAX_MEMORY_SIZE; STOW-RS must not.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    parts = [to_bytes(make_ct(rows=64, columns=64, instance_number=n)) for n in range(1, 4)]

    response = post_parts(peer_session, studies_url(live_server), parts)

    assert response.status_code == 200
    assert len(sequence(decoded(response), REFERENCED)) == 3
    assert Instance.objects.count() == 3


def test_part_over_the_file_limit_is_refused_and_recorded_without_its_bytes(
    peer_session, live_server, settings
):
    settings.INGEST_MAX_FILE_BYTES = 20_000
    small = make_ct()

    response = post_parts(
        peer_session,
        studies_url(live_server),
        [sample_path("CT_small.dcm").read_bytes(), to_bytes(small)],
    )

    assert response.status_code == 202
    [failed] = sequence(decoded(response), FAILED)
    assert value(failed, FAILURE_REASON) == 0xA700
    entry = QuarantinedFile.objects.get()
    assert (entry.reason_code, entry.file_size, entry.file_path) == ("too_large", 39206, "")
    assert Instance.objects.get().sop_instance_uid == small.SOPInstanceUID


def test_too_many_parts_is_413(peer_session, live_server, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    parts = [to_bytes(make_ct()) for _ in range(3)]

    response = post_parts(peer_session, studies_url(live_server), parts)

    assert response.status_code == 413
    assert Instance.objects.count() == 0


def test_part_declared_as_another_media_type_is_refused(peer_session, live_server):
    good = to_bytes(make_ct())
    boundary = "mixed-parts"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + good
        + f"\r\n--{boundary}\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n--{boundary}--".encode()
    )

    response = peer_session.post(
        studies_url(live_server),
        data=body,
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'
        },
    )

    assert response.status_code == 202
    [failed] = sequence(decoded(response), FAILED)
    assert value(failed, REASON_CODE) == "wrong_media_type"
    assert value(failed, FAILURE_REASON) == 0xC000


# --- the multipart reader on its own -----------------------------------------------------


class Trickle(io.BytesIO):
    """A stream that hands out a few bytes per read, so delimiters straddle reads."""

    def read(self, size: int = -1, /) -> bytes:
        return super().read(min(7, size if size >= 0 else 7))


def read_parts(body: bytes, boundary: bytes = b"bnd", **limits) -> list[tuple[dict, bytes]]:
    options = {"max_bytes": 10**7, "max_parts": 100, "max_part_bytes": 10**7} | limits
    with spooled_parts(Trickle(body), boundary, **options) as parts:
        return [(p.headers, parts.content(p)) for p in parts]


def test_multipart_reader_handles_preamble_padding_empty_headers_and_epilogue():
    body = (
        b"preamble to ignore\r\n--bnd  \r\nContent-Type: application/dicom\r\n\r\n"
        b"first\r\n--bn not a delimiter\r\n--bnd\r\n\r\n\r\n--bnd--\r\nepilogue"
    )

    parts = read_parts(body)

    assert parts == [
        ({"content-type": "application/dicom"}, b"first\r\n--bn not a delimiter"),
        ({}, b""),
    ]


def test_multipart_reader_counts_but_does_not_keep_an_over_size_part():
    body = b"--bnd\r\n\r\n" + b"x" * 5000 + b"\r\n--bnd\r\n\r\nsmall\r\n--bnd--"

    with spooled_parts(
        Trickle(body), b"bnd", max_bytes=10**6, max_parts=10, max_part_bytes=1000
    ) as parts:
        big, small = parts.items
        assert (big.kept, big.size) == (False, 5000)
        assert parts.content(small) == b"small"


@pytest.mark.parametrize(
    "body",
    [
        b"--bnd\r\n\r\nno closing boundary",
        b"--bnd\r\nNot a header line\r\n\r\ndata\r\n--bnd--",
        b"--bnd junk after the boundary\r\n\r\ndata\r\n--bnd--",
        b"no boundary at all",
    ],
)
def test_multipart_reader_refuses_malformed_bodies(body):
    with pytest.raises(MultipartError):
        read_parts(body)


def test_multipart_reader_stops_at_the_byte_limit():
    with pytest.raises(TooLarge):
        read_parts(b"--bnd\r\n\r\n" + b"x" * 500 + b"\r\n--bnd--", max_bytes=100)


def test_content_type_parsing_requires_multipart_related_with_boundary():
    related = parse_related('multipart/related; type="application/dicom"; boundary="a b"')
    assert (related.root_type, related.boundary) == ("application/dicom", b"a b")
    with pytest.raises(UnsupportedMediaType):
        parse_related("application/dicom")
    with pytest.raises(MultipartError):
        parse_related('multipart/related; type="application/dicom"')


# --- the production server path --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_stow_through_the_asgi_application_without_content_length(peer_user):
    # Django's ASGI handler spools the body to a file; a chunked upload has no Content-Length.
    from viewerproject.asgi import application

    generated = make_ct()
    credentials = base64.b64encode(f"{USERNAME}:{dicomweb_server.PASSWORD}".encode())
    communicator = HttpCommunicator(
        application,
        "POST",
        "/dicomweb/studies",
        body=multipart_body([to_bytes(generated), sample_path("CT_small.dcm").read_bytes()]),
        headers=[
            (b"host", b"127.0.0.1"),
            (b"content-type", dicomweb_server.STOW_CONTENT_TYPE.encode()),
            (b"authorization", b"Basic " + credentials),
        ],
    )

    response = await communicator.get_response(timeout=30)

    assert response["status"] == 200
    body = json.loads(response["body"])
    assert len(sequence(body, REFERENCED)) == 2
    stored = await sync_to_async(
        Instance.objects.filter(sop_instance_uid=generated.SOPInstanceUID).count
    )()
    assert stored == 1
