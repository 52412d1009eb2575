"""The archive index: Patient → Study → Series → Instance, plus the quarantine.

Every text field holds DICOM text from a stranger: it is stored for display and query only,
never used to build a path or markup. Lengths follow the value representation limits of
PS3.5 6.2 (LO 64, SH 16, PN 64 per component group, UI 64, CS 16).
"""

from django.db import models


class Patient(models.Model):
    patient_id = models.CharField("patient ID", max_length=64, blank=True)
    issuer_of_patient_id = models.CharField("issuer of patient ID", max_length=64, blank=True)
    name = models.CharField("patient name", max_length=324, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "issuer_of_patient_id"], name="unique_patient_per_issuer"
            )
        ]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return f"{self.name or '(no name)'} [{self.patient_id or '(no ID)'}]"


class Study(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="studies")
    study_instance_uid = models.CharField("study instance UID", max_length=64, unique=True)
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    study_id = models.CharField("study ID", max_length=16, blank=True)
    description = models.CharField("study description", max_length=64, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    # Backslash-separated, sorted, like the DICOM multi-valued CS it mirrors.
    modalities_in_study = models.CharField(max_length=128, blank=True)
    number_of_series = models.PositiveIntegerField(default=0)
    number_of_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        indexes = [
            models.Index(fields=["-study_date", "-study_time"], name="study_date_desc"),
            models.Index(fields=["accession_number"]),
            models.Index(fields=["updated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.study_date or '?'} {self.description or self.study_instance_uid}"

    @property
    def modalities(self) -> list[str]:
        return [m for m in self.modalities_in_study.split("\\") if m]


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField("series instance UID", max_length=64, unique=True)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField("series description", max_length=64, blank=True)
    body_part_examined = models.CharField(max_length=16, blank=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    number_of_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "series"
        indexes = [models.Index(fields=["modality"])]

    def __str__(self) -> str:
        return f"{self.modality} #{self.series_number} {self.description}".strip()


class Instance(models.Model):
    class Source(models.TextChoices):
        IMPORT = "import", "command-line import"
        UPLOAD = "upload", "browser upload"
        STOW = "stow", "DICOMweb STOW-RS"
        CSTORE = "c-store", "DICOM C-STORE"
        RETRIEVE = "retrieve", "retrieve from PACS"
        DEMO = "demo", "demo data"

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_class_uid = models.CharField("SOP class UID", max_length=64)
    sop_instance_uid = models.CharField("SOP instance UID", max_length=64, unique=True)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    # Relative to settings.DICOM_STORE_DIR; chosen by studies.storage, never from DICOM text.
    file_path = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Who or what sent it: a user name, an AE title and address, a PACS node name.
    source_detail = models.CharField(max_length=200, blank=True)
    # The header as DICOM JSON (PS3.18 F.2) without bulk data: answers QIDO includefield
    # and WADO-RS metadata without opening the file.
    dicom_json = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["series", "instance_number"]),
            models.Index(fields=["sop_class_uid"]),
        ]

    def __str__(self) -> str:
        return f"#{self.instance_number} {self.sop_instance_uid}"


class QuarantinedFile(models.Model):
    """A file that ingest refused, kept with the reason so nothing sent to us is lost."""

    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=16, choices=Instance.Source.choices)
    source_detail = models.CharField(max_length=200, blank=True)
    # The name the sender gave (upload file name, zip member); display only.
    original_name = models.CharField(max_length=255, blank=True)
    reason_code = models.CharField(max_length=40)
    reason = models.TextField()
    sop_instance_uid = models.CharField(max_length=64, blank=True)
    # Relative to settings.QUARANTINE_DIR; empty when the file was too large to keep.
    file_path = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["reason_code"])]

    def __str__(self) -> str:
        return f"{self.original_name or self.sha256[:12]}: {self.reason_code}"
