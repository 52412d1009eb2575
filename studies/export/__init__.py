"""Export of whole studies: a ZIP with a DICOMDIR (``media``), optionally de-identified
(``deidentify``, PS3.15 Annex E), served by ``views``."""
