"""The archive index: Patient → Study → Series → Instance, plus the quarantine.

Every text field holds DICOM text from a stranger: it is stored for display and query only,
never used to build a path or markup. Lengths follow the value representation limits of
PS3.5 6.2 (LO 64, SH 16, PN 64 per component group, UI 64, CS 16).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


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


class PendingFileDeletion(models.Model):
    """A stored file whose index row is gone but whose delete failed (a bucket that was down,
    a permission): kept here and retried (``studies.file_deletions``), so the archive does
    not keep a patient's images nobody can see or remove."""

    class Store(models.TextChoices):
        DICOM = "dicom", "archive"
        QUARANTINE = "quarantine", "quarantine"

    store = models.CharField(max_length=16, choices=Store.choices)
    relative_path = models.CharField(max_length=255)
    first_failed_at = models.DateTimeField(auto_now_add=True)
    last_tried_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=1)
    error = models.TextField()

    class Meta:
        ordering = ["first_failed_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "relative_path"], name="one_pending_delete")
        ]

    def __str__(self) -> str:
        return f"{self.get_store_display()} {self.relative_path}"


# --- DICOM network: known senders, PACS nodes, retrieve jobs ---------------------------------


def validate_ae_title(value: str) -> None:
    """PS3.5 6.2 (AE): 1-16 characters of the default repertoire, no backslash or control
    characters; leading and trailing spaces are not significant."""
    text = value.strip()
    if not text:
        raise ValidationError("an AE title cannot be empty")
    if len(text) > 16:
        raise ValidationError("an AE title has at most 16 characters")
    if not text.isascii() or "\\" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValidationError("an AE title is printable ASCII without a backslash")


class KnownSender(models.Model):
    """A remote application entity (a modality, a workstation) allowed to store to our
    listener. Anyone else is refused when it asks for an association."""

    ae_title = models.CharField(
        "AE title", max_length=16, unique=True, validators=[validate_ae_title]
    )
    host = models.CharField(
        max_length=255,
        blank=True,
        help_text="If set, only connections from this address (or host name) are accepted.",
    )
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ae_title"]

    def __str__(self) -> str:
        return self.ae_title


class PacsNode(models.Model):
    """A remote archive we query (C-FIND) and retrieve from (C-MOVE or C-GET)."""

    class RetrieveMethod(models.TextChoices):
        MOVE = "move", "C-MOVE to our listener"
        GET = "get", "C-GET on the query association"

    name = models.SlugField(max_length=64, unique=True)
    ae_title = models.CharField("AE title", max_length=16, validators=[validate_ae_title])
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    retrieve_method = models.CharField(
        max_length=8, choices=RetrieveMethod.choices, default=RetrieveMethod.MOVE
    )
    local_ae_title = models.CharField(
        "our AE title",
        max_length=16,
        blank=True,
        validators=[validate_ae_title],
        help_text="The calling AE title we use towards this node; empty means DICOM_AE_TITLE.",
    )
    may_store = models.BooleanField(
        default=True,
        help_text="Accept C-STORE from this node's AE title when it connects from its host "
        "(C-MOVE delivers that way).",
    )
    enabled = models.BooleanField(default=True)
    last_echo_at = models.DateTimeField(null=True, blank=True)
    last_echo_ok = models.BooleanField(null=True, blank=True)
    last_echo_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "PACS node"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"

    @property
    def calling_ae_title(self) -> str:
        return (self.local_ae_title or settings.DICOM_AE_TITLE).strip()


class RetrieveJob(models.Model):
    """A durable request to copy a study (or one series) from a PACS into the archive.

    Workers claim a job with a conditional update on ``lease_token`` and renew
    ``lease_expires_at`` while they run; a job whose lease lapsed (its worker died) is
    claimed again and resumes by fetching only the instances still missing.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    node = models.ForeignKey(PacsNode, on_delete=models.PROTECT, related_name="retrieve_jobs")
    study_instance_uid = models.CharField("study instance UID", max_length=64)
    # Empty for the whole study.
    series_instance_uid = models.CharField("series instance UID", max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    # Instances the PACS holds for the request; null until its answer is known.
    expected_count = models.PositiveIntegerField(null=True, blank=True)
    # Instances already in the archive when the latest attempt started (not fetched again).
    present_count = models.PositiveIntegerField(default=0)
    # Instances asked of the PACS in the latest attempt.
    requested_count = models.PositiveIntegerField(default=0)
    # Instances of the request now in the archive (present + arrived).
    received_count = models.PositiveIntegerField(default=0)
    # Sub-operations the PACS reported failed in the latest attempt.
    failed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Ownership of a running job: changes on every claim, so a worker that lost its lease
    # notices when its conditional updates match nothing.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="retrieve_job_due"),
            models.Index(fields=["study_instance_uid"]),
        ]
        constraints = [
            # One active job per node and request: a second click joins the first job.
            models.UniqueConstraint(
                fields=["node", "study_instance_uid", "series_instance_uid"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_active_retrieve_per_request",
            )
        ]

    def __str__(self) -> str:
        target = self.series_instance_uid or self.study_instance_uid
        return f"retrieve {target} from {self.node.name} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


# --- EMR launch (IHE IID, RAD-106) and the audit trail ---------------------------------------


class EmrIntegration(models.Model):
    """An EMR allowed to open the viewer with signed IHE Invoke Image Display links."""

    name = models.SlugField(max_length=64, unique=True)
    # Shared with the EMR only; HMAC-SHA256 key (studies.launch). At least 32 characters.
    shared_secret = models.CharField(max_length=200)
    link_lifetime_seconds = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(10), MaxValueValidator(86400)],
        help_text="Links valid for longer than this are refused.",
    )
    session_lifetime_seconds = models.PositiveIntegerField(
        default=8 * 3600,
        validators=[MinValueValidator(60), MaxValueValidator(7 * 86400)],
        help_text="How long a launched session may see its studies.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "EMR integration"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if len(self.shared_secret) < 32:
            raise ValidationError({"shared_secret": "Use at least 32 characters."})


class LaunchNonce(models.Model):
    """A nonce already used: the unique constraint makes each link single use."""

    integration = models.ForeignKey(EmrIntegration, on_delete=models.CASCADE)
    nonce = models.CharField(max_length=64)
    used_at = models.DateTimeField(auto_now_add=True)
    # Kept until the link would have expired anyway; older rows may be deleted.
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "nonce"], name="launch_nonce_once")
        ]

    def __str__(self) -> str:
        return f"{self.integration_id}:{self.nonce}"


class LaunchGrant(models.Model):
    """What one verified launch may see. Its ``user`` is a session-only account made for
    the launch (no password), so every access check that takes a user is scoped by it."""

    class RequestType(models.TextChoices):
        STUDY = "STUDY", "study"
        PATIENT = "PATIENT", "patient"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="launch_grant"
    )
    integration = models.ForeignKey(EmrIntegration, on_delete=models.CASCADE)
    request_type = models.CharField(max_length=8, choices=RequestType.choices)
    # The EMR's user, if the link names one (audit only; not a login).
    emr_user = models.CharField(max_length=128, blank=True)
    patient_id = models.CharField(max_length=64, blank=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    # The launch parameters as verified (IID names), for the landing page.
    parameters = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.integration} {self.request_type} launch #{self.pk}"


class LaunchScopeStudy(models.Model):
    """A study a STUDY launch may see (by UID, so a study still being retrieved counts)."""

    grant = models.ForeignKey(LaunchGrant, on_delete=models.CASCADE, related_name="studies")
    study_instance_uid = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grant", "study_instance_uid"], name="launch_scope_study_once"
            )
        ]

    def __str__(self) -> str:
        return self.study_instance_uid


class AuditEvent(models.Model):
    """One audited action (who, when, from where, patient, study, outcome), exportable as a
    DICOM PS3.15 A.5 audit message by studies.audit."""

    class Kind(models.TextChoices):
        STUDY_OPENED = "study-opened", "study opened"
        IMAGE_SESSION = "image-session", "image session"
        QUERY = "query", "query"
        RETRIEVE = "retrieve", "retrieve"
        EXPORT = "export", "export"
        LOGIN = "login", "login"
        LOGIN_FAILED = "login-failed", "failed login"
        LAUNCH = "launch", "EMR launch"
        LAUNCH_REFUSED = "launch-refused", "EMR launch refused"
        ASSOCIATION_REJECTED = "association-rejected", "association rejected"

    # PS3.15 A.5.3 EventOutcomeIndicator: 0 success, 4 minor, 8 serious, 12 major failure.
    class Outcome(models.IntegerChoices):
        SUCCESS = 0, "success"
        MINOR_FAILURE = 4, "minor failure"
        SERIOUS_FAILURE = 8, "serious failure"
        MAJOR_FAILURE = 12, "major failure"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    outcome = models.PositiveSmallIntegerField(choices=Outcome.choices, default=Outcome.SUCCESS)
    # A user name, "emr:<integration>/<emr user>", or an AE title.
    who = models.CharField(max_length=200, blank=True)
    source_address = models.CharField(max_length=100, blank=True)
    patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=324, blank=True)
    study_instance_uid = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["kind", "-created_at"]),
            models.Index(fields=["study_instance_uid"]),
            models.Index(fields=["patient_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.kind} {self.who}"
