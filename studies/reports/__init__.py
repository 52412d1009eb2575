"""DICOM Structured Reports: read them as a content tree, write measurements and key images.

``reading``  an SR or KOS instance → a ``ContentNode`` tree and its measurements (PS3.3 C.17.3)
``writing``  viewer measurements → TID 1500 Measurement Report; key images → Key Object
             Selection (PS3.16 TID 2010), both with highdicom, stored through ``ingest``
``sending``  C-STORE an instance to a PACS node (PS3.4 B.2)
``views``    the report list and page of a study, and the save endpoints
"""

# Structured Report storage SOP classes (PS3.4 B.5) this module reads.
SR_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
        "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
        "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
        "1.2.840.10008.5.1.4.1.1.88.35",  # Extensible SR
        "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection Document
    }
)


class InvalidReport(ValueError):
    """A measurement or key image list that cannot become a report (answered 400)."""
