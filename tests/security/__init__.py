"""Security tests (issue 8): access, browser hardening, fuzzing, export."""
