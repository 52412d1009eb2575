"""Display filters for DICOM values. They return plain strings, so templates still escape
them: a value from a DICOM file is never marked safe."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def person_name(value: str) -> str:
    """PS3.5 6.2.1.1 PN: ``Family^Given^Middle^Prefix^Suffix``, up to three ``=``-separated
    groups (alphabetic, ideographic, phonetic). Shows the first non-empty group as
    "FAMILY, Prefix Given Middle, Suffix"."""
    text = str(value or "")
    group = next((g for g in text.split("=") if g.strip("^ ")), "")
    if not group:
        return ""
    parts = [p.strip() for p in group.split("^")] + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    rest = " ".join(p for p in (prefix, given, middle) if p)
    name = ", ".join(p for p in (family, rest) if p)
    return f"{name}, {suffix}" if suffix else name


@register.filter
def multi_value(value: str) -> str:
    """A backslash-separated multi-valued string (PS3.5 6.4) as a comma-separated list."""
    return ", ".join(v for v in str(value or "").split("\\") if v)
