"""The study list's search form: query-string text in, ``search_studies`` keywords out.

Everything here arrives from a URL a clinician may have bookmarked, edited or pasted, so a
bad value becomes a form error or a default, never an exception.
"""

from __future__ import annotations

import datetime as dt

from django import forms

# Both what <input type=date> sends and the DICOM DA form (PS3.5 6.2) are accepted.
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y%m%d"]


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


class StudySearchForm(forms.Form):
    # Lengths are the VR limits (PS3.5 6.2): LO 64, SH 16; longer input cannot match anyway
    # and would only make the wildcard regex more expensive.
    patient_name = forms.CharField(
        required=False,
        max_length=64,
        label="Patient name",
        help_text="Starts with; * and ? are wildcards (e.g. DOE^J*).",
    )
    patient_id = forms.CharField(required=False, max_length=64, label="Patient ID")
    accession_number = forms.CharField(required=False, max_length=16, label="Accession")
    date_from = forms.DateField(
        required=False,
        label="From",
        input_formats=DATE_INPUT_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        input_formats=DATE_INPUT_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    modality = forms.ChoiceField(required=False, label="Modality", choices=())

    def __init__(self, *args, modalities: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["modality"].choices = [("", "Any")] + [(m, m) for m in modalities or []]

    def clean_patient_name(self) -> str:
        name = self.cleaned_data["patient_name"].strip()
        # A name typed without wildcards is a prefix: "doe" finds "DOE^JANE", which is what
        # a person at a worklist means. QIDO-RS keeps the strict PS3.4 C.2.2.2 semantics.
        if name and not has_wildcard(name):
            name += "*"
        return name

    def clean_patient_id(self) -> str:
        return self.cleaned_data["patient_id"].strip()

    def clean_accession_number(self) -> str:
        return self.cleaned_data["accession_number"].strip()

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def search_criteria(self) -> dict[str, str]:
        """Keyword arguments for ``studies.queries.search_studies`` (call after is_valid)."""
        data = self.cleaned_data
        return {
            "patient_name": data.get("patient_name", ""),
            "patient_id": data.get("patient_id", ""),
            "accession_number": data.get("accession_number", ""),
            "study_date": dicom_date_range(data.get("date_from"), data.get("date_to")),
            "modalities": data.get("modality", ""),
        }


def dicom_date_range(start: dt.date | None, end: dt.date | None) -> str:
    """PS3.4 C.2.2.2.5 range matching: ``D1-D2``, ``D1-`` or ``-D2``; empty for no limit."""
    if not start and not end:
        return ""
    return f"{start.strftime('%Y%m%d') if start else ''}-{end.strftime('%Y%m%d') if end else ''}"
