"""WADO-RS (PS3.18 10.4): stored instances, frames and metadata, with real files.

dicomweb-client against a live server for the transactions a viewer or PACS runs, and the
Django test client for status codes, headers and query counts.
"""

from __future__ import annotations

import io
import json
from urllib.parse import urlsplit

import numpy as np
import pydicom
import pytest
from django.utils.http import parse_header_parameters
from pydicom.encaps import get_frame

from studies.ingest import ingest_bytes
from studies.models import Instance
from studies.rendering import instance_path
from tests import dicomweb_server
from tests.dicom_files import make_ct, sample_path, to_bytes

dicomweb = dicomweb_server.dicomweb
peer_session = dicomweb_server.peer_session
peer_user = dicomweb_server.peer_user

STUDY = "1.2.826.0.1.3680043.9.7433.20.1"
SERIES = "1.2.826.0.1.3680043.9.7433.21.1"
OCTET = 'multipart/related; type="application/octet-stream"'
OCTET_ANY_SYNTAX = OCTET + "; transfer-syntax=*"
# Each request through the session costs two queries before the view runs:
#   1. the session row, 2. the user row.
AUTH_QUERIES = 2


def store(data: bytes) -> Instance:
    result = ingest_bytes(data, Instance.Source.IMPORT)
    assert result.ok, result.reason
    return Instance.objects.select_related("series__study").get(pk=result.instance_id)


def store_sample(name: str) -> Instance:
    return store(sample_path(name).read_bytes())


def url(instance: Instance, suffix: str = "") -> str:
    series = instance.series
    return (
        f"/dicomweb/studies/{series.study.study_instance_uid}/series/"
        f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}{suffix}"
    )


def parts(response) -> list[tuple[str, bytes]]:
    """(Content-Type, content) of each part of a multipart/related answer."""
    media_type, params = parse_header_parameters(response["Content-Type"])
    assert media_type == "multipart/related", response["Content-Type"]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    delimiter = b"--" + params["boundary"].encode()
    assert body.endswith(delimiter + b"--\r\n")
    found = []
    for chunk in body.split(b"\r\n" + delimiter)[:-1]:
        chunk = chunk.removeprefix(delimiter)
        head, _, content = chunk.partition(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode().strip().splitlines() if ": " in line
        )
        found.append((headers["Content-Type"], content))
    return found


def pixels(name: str) -> np.ndarray:
    return pydicom.dcmread(sample_path(name)).pixel_array


# --- dicomweb-client against a live server -----------------------------------------------------


def test_dicomweb_client_retrieves_the_stored_instance_unchanged(dicomweb):
    ct = store_sample("CT_small.dcm")
    j2k = store_sample("693_J2KR.dcm")

    for instance, name in ((ct, "CT_small.dcm"), (j2k, "693_J2KR.dcm")):
        ds = dicomweb.retrieve_instance(
            instance.series.study.study_instance_uid,
            instance.series.series_instance_uid,
            instance.sop_instance_uid,
        )
        original = pydicom.dcmread(sample_path(name))
        assert ds.SOPInstanceUID == original.SOPInstanceUID
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert ds.PixelData == original.PixelData


def test_dicomweb_client_reads_series_metadata_with_a_frames_bulk_data_uri(
    dicomweb, peer_session, live_server
):
    instances = [
        store(to_bytes(make_ct(study_uid=STUDY, series_uid=SERIES, instance_number=n)))
        for n in (2, 1, 3)
    ]

    metadata = dicomweb.retrieve_series_metadata(STUDY, SERIES)

    assert [m["00200013"]["Value"][0] for m in metadata] == [1, 2, 3]  # InstanceNumber order
    first = next(i for i in instances if i.instance_number == 1)
    assert metadata[0]["00080018"]["Value"] == [first.sop_instance_uid]
    assert metadata[0]["00100010"]["Value"] == [{"Alphabetic": "Doe^Jane"}]
    pixel_data = metadata[0]["7FE00010"]
    assert pixel_data["vr"] == "OW"  # 16-bit native
    assert urlsplit(pixel_data["BulkDataURI"]).path == url(first, "/frames/1")
    # dicomweb-client sends "Host: localhost" without the port on plain GETs, so the absolute
    # URI it is given has no port either; a client that sends Host as RFC 9110 7.2 says gets
    # one it can follow as is.
    [own] = peer_session.get(f"{live_server.url}{url(first, '/metadata')}").json()
    [frame] = dicomweb.retrieve_bulkdata(own["7FE00010"]["BulkDataURI"])
    assert frame == make_ct().PixelData  # generated pixels are the same for every make_ct


def test_dicomweb_client_retrieves_native_frames_in_the_order_asked(dicomweb):
    instance = store_sample("emri_small.dcm")  # 10 frames of 64×64, 16-bit
    expected = pixels("emri_small.dcm")

    frames = dicomweb.retrieve_instance_frames(
        instance.series.study.study_instance_uid,
        instance.series.series_instance_uid,
        instance.sop_instance_uid,
        frame_numbers=[7, 2],
        media_types=("application/octet-stream",),
    )

    assert [len(f) for f in frames] == [64 * 64 * 2] * 2
    assert frames[0] == expected[6].astype("<u2").tobytes()
    assert frames[1] == expected[1].astype("<u2").tobytes()


def test_dicomweb_client_gets_compressed_frames_as_stored_or_decoded(dicomweb):
    instance = store_sample("693_J2KR.dcm")
    original = pydicom.dcmread(sample_path("693_J2KR.dcm"))
    uids = (
        instance.series.study.study_instance_uid,
        instance.series.series_instance_uid,
        instance.sop_instance_uid,
    )

    [as_stored] = dicomweb.retrieve_instance_frames(*uids, frame_numbers=[1])  # Accept */*
    [decoded] = dicomweb.retrieve_instance_frames(
        *uids, frame_numbers=[1], media_types=("application/octet-stream",)
    )

    assert as_stored == get_frame(original.PixelData, 0, number_of_frames=1)
    expected = original.pixel_array
    assert decoded == expected.astype(expected.dtype.newbyteorder("<")).tobytes()


# --- instances: multipart/related of stored files -----------------------------------------------


@pytest.mark.django_db
def test_study_is_streamed_as_one_part_per_stored_file(clinician_client):
    stored = [
        store(to_bytes(make_ct(study_uid=STUDY, series_uid=SERIES, instance_number=n)))
        for n in (1, 2)
    ]
    other_series = store(to_bytes(make_ct(study_uid=STUDY, SeriesNumber=2)))

    response = clinician_client.get(f"/dicomweb/studies/{STUDY}")

    assert response.status_code == 200
    assert response.streaming  # read from disk as sent, never built in memory
    assert 'type="application/dicom"' in response["Content-Type"]
    found = parts(response)
    sent = [pydicom.dcmread(io.BytesIO(content)).SOPInstanceUID for _, content in found]
    assert sent == [i.sop_instance_uid for i in (*stored, other_series)]
    assert all(
        content_type == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
        for content_type, _ in found
    )
    assert response["Cache-Control"] == "private, no-cache"


@pytest.mark.django_db
def test_series_and_instance_retrieve_only_their_own_files(clinician_client):
    a1, a2 = (
        store(to_bytes(make_ct(study_uid=STUDY, series_uid=SERIES, instance_number=n)))
        for n in (1, 2)
    )
    store(to_bytes(make_ct(study_uid=STUDY)))

    series = clinician_client.get(f"/dicomweb/studies/{STUDY}/series/{SERIES}")
    instance = clinician_client.get(url(a2))

    assert len(parts(series)) == 2
    [(_, content)] = parts(instance)
    assert content == instance_path(a2).read_bytes()
    assert instance["ETag"]
    again = clinician_client.get(url(a2), headers={"If-None-Match": instance["ETag"]})
    assert again.status_code == 304


@pytest.mark.django_db
def test_asking_for_a_transfer_syntax_we_do_not_store_is_406_not_a_silent_other_one(
    clinician_client,
):
    instance = store_sample("693_J2KR.dcm")
    ask = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'

    refused = clinician_client.get(url(instance), headers={"Accept": ask})
    as_stored = clinician_client.get(
        url(instance), headers={"Accept": ask.replace("1.2.840.10008.1.2.1", "*")}
    )
    not_dicom = clinician_client.get(url(instance), headers={"Accept": "application/zip"})

    assert refused.status_code == 406
    assert "JPEG 2000" in refused.content.decode()
    assert as_stored.status_code == 200
    assert not_dicom.status_code == 406


@pytest.mark.django_db
def test_study_retrieve_streams_under_asgi_too(client, clinician):
    """Under ASGI the body must be an async iterator or Django buffers all of it."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    instance = store(to_bytes(make_ct(study_uid=STUDY)))
    async_client = AsyncClient()

    async def fetch() -> tuple[int, bool, bytes]:
        await async_client.aforce_login(clinician)
        response = await async_client.get(f"/dicomweb/studies/{STUDY}")
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response.status_code, response.is_async, body

    status, is_async, body = async_to_sync(fetch)()

    assert status == 200
    assert is_async
    assert instance_path(instance).read_bytes() in body


# --- frames --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_bit_frames_are_cut_at_their_bit_offsets(clinician_client):
    instance = store_sample("liver.dcm")  # 3 frames of 1-bit segmentation
    expected = pixels("liver.dcm")

    response = clinician_client.get(url(instance, "/frames/3,1"), headers={"Accept": OCTET})

    [(content_type, third), (_, first)] = parts(response)
    assert content_type == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    assert third == np.packbits(expected[2].ravel(), bitorder="little").tobytes()
    assert first == np.packbits(expected[0].ravel(), bitorder="little").tobytes()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "image_dfl.dcm"])
def test_big_endian_and_deflated_frames_come_out_little_endian(clinician_client, name):
    instance = store_sample(name)
    expected = pixels(name)

    response = clinician_client.get(url(instance, "/frames/1"), headers={"Accept": OCTET})

    [(_, frame)] = parts(response)
    assert frame == expected.astype(expected.dtype.newbyteorder("<")).tobytes()


@pytest.mark.django_db
def test_compressed_frames_as_stored_carry_their_media_type_and_syntax(clinician_client):
    instance = store_sample("examples_ybr_color.dcm")  # 30 JPEG baseline frames
    original = pydicom.dcmread(sample_path("examples_ybr_color.dcm"))

    jpeg = clinician_client.get(url(instance, "/frames/30,2"))  # no Accept: */*
    octet_any = clinician_client.get(
        url(instance, "/frames/5"), headers={"Accept": OCTET_ANY_SYNTAX}
    )

    [(content_type, last), (_, second)] = parts(jpeg)
    assert content_type == "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
    assert last == get_frame(original.PixelData, 29, number_of_frames=30)
    assert second == get_frame(original.PixelData, 1, number_of_frames=30)
    [(content_type, fifth)] = parts(octet_any)
    assert content_type == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50"
    assert fifth == get_frame(original.PixelData, 4, number_of_frames=30)


@pytest.mark.django_db
def test_frames_we_cannot_send_in_the_asked_form_are_406_with_what_we_can(clinician_client):
    native = store_sample("CT_small.dcm")
    j2k = store_sample("693_J2KR.dcm")

    as_jpeg = clinician_client.get(
        url(native, "/frames/1"), headers={"Accept": 'multipart/related; type="image/jpeg"'}
    )
    j2k_as_jpeg_ls = clinician_client.get(
        url(j2k, "/frames/1"), headers={"Accept": 'multipart/related; type="image/jls"'}
    )

    assert as_jpeg.status_code == 406
    assert j2k_as_jpeg_ls.status_code == 406
    message = j2k_as_jpeg_ls.content.decode()
    assert "image/jp2" in message and "application/octet-stream" in message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("frames", "status"),
    [("0", 400), ("1,x", 400), ("-1", 400), ("1,,2", 400), ("11", 404), ("1,10,11", 404)],
)
def test_bad_or_missing_frame_numbers(clinician_client, frames, status):
    instance = store_sample("emri_small.dcm")  # 10 frames

    response = clinician_client.get(url(instance, f"/frames/{frames}"))

    assert response.status_code == status
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_frames_answer_is_cached_by_etag(clinician_client):
    instance = store_sample("CT_small.dcm")
    first = clinician_client.get(url(instance, "/frames/1"))

    again = clinician_client.get(
        url(instance, "/frames/1"), headers={"If-None-Match": first["ETag"]}
    )
    other_form = clinician_client.get(
        url(instance, "/frames/1"),
        headers={"If-None-Match": first["ETag"], "Accept": 'multipart/related; type="image/*"'},
    )

    assert first["Cache-Control"] == "private, max-age=3600"
    assert again.status_code == 304
    assert other_form.status_code == 406  # a different answer is never a 304


# --- unknown resources -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["", "/metadata", "/frames/1", "/rendered", "/thumbnail"])
def test_unknown_uids_are_404_saying_which(clinician_client, suffix):
    instance = store(to_bytes(make_ct(study_uid=STUDY, series_uid=SERIES)))
    known = instance.sop_instance_uid

    no_study = clinician_client.get(
        f"/dicomweb/studies/9.9.9/series/{SERIES}/instances/{known}{suffix}"
    )
    no_series = clinician_client.get(
        f"/dicomweb/studies/{STUDY}/series/9.9/instances/{known}{suffix}"
    )
    no_instance = clinician_client.get(
        f"/dicomweb/studies/{STUDY}/series/{SERIES}/instances/9{suffix}"
    )

    assert no_study.status_code == no_series.status_code == no_instance.status_code == 404
    assert "No study 9.9.9" in no_study.content.decode()
    assert "No series 9.9 " in no_series.content.decode()
    assert "No instance 9 " in no_instance.content.decode()


# --- metadata --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metadata_of_a_compressed_multi_frame_image_lists_every_frame(clinician_client):
    instance = store_sample("examples_ybr_color.dcm")

    response = clinician_client.get(url(instance, "/metadata"))

    assert response["Content-Type"] == "application/dicom+json"
    [dataset] = json.loads(response.content)
    pixel_data = dataset["7FE00010"]
    assert pixel_data["vr"] == "OB"
    frames = ",".join(str(n) for n in range(1, 31))
    assert pixel_data["BulkDataURI"] == f"http://testserver{url(instance)}/frames/{frames}"
    assert dataset["00280008"]["Value"] == [30]  # the stored header is all there


@pytest.mark.django_db
def test_metadata_of_an_instance_without_pixels_has_no_bulk_data_uri(clinician_client):
    ds = make_ct(study_uid=STUDY)
    del ds.PixelData, ds.Rows, ds.Columns
    instance = store(to_bytes(ds))

    [dataset] = json.loads(clinician_client.get(url(instance, "/metadata")).content)

    assert "7FE00010" not in dataset


@pytest.mark.django_db
def test_metadata_in_xml_is_not_acceptable(clinician_client):
    instance = store(to_bytes(make_ct(study_uid=STUDY)))

    response = clinician_client.get(
        url(instance, "/metadata"),
        headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
    )

    assert response.status_code == 406


@pytest.mark.django_db
def test_study_and_series_metadata_are_one_query_however_many_instances(
    clinician_client, django_assert_num_queries
):
    for n in range(1, 7):
        store(to_bytes(make_ct(study_uid=STUDY, series_uid=SERIES, instance_number=n)))
    store(to_bytes(make_ct(study_uid=STUDY, SeriesNumber=2)))
    requests_and_sizes = [
        (f"/dicomweb/studies/{STUDY}/metadata", 7),
        (f"/dicomweb/studies/{STUDY}/series/{SERIES}/metadata", 6),
    ]
    for path, size in requests_and_sizes:
        clinician_client.get(path)  # the audited first read (studies.audit.dicomweb)
        # 3. the instances with their series, headers included
        with django_assert_num_queries(AUTH_QUERIES + 1):
            response = clinician_client.get(path)
        assert len(json.loads(response.content)) == size


# --- authentication ------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_caller_gets_nothing_from_wado(client):
    instance = store(to_bytes(make_ct(study_uid=STUDY)))

    for suffix in ("", "/metadata", "/frames/1", "/rendered", "/thumbnail"):
        response = client.get(url(instance, suffix))
        assert response.status_code == 401, suffix
        assert response["WWW-Authenticate"] == 'Basic realm="DICOMweb"'
