"""python -m tests.bench : every benchmark section in turn, ours against Orthanc.

``python -m tests.bench render --repeat 30`` runs one section with its own options; without
a section name the ingest section gets the command-line options, as before, and the others
run with their defaults (``--no-orthanc`` is passed to all).
"""

import sys

from tests.bench import ingest, render, retrieve, viewer

SECTIONS = {
    "ingest": ingest.main,
    "render": render.main,
    "retrieve": retrieve.main,
    "viewer": viewer.main,
}

arguments = sys.argv[1:]
if arguments and arguments[0] in SECTIONS:
    raise SystemExit(SECTIONS[arguments[0]](arguments[1:]))
status = ingest.main(arguments)
shared = ["--no-orthanc"] if "--no-orthanc" in arguments else []
for name, section in SECTIONS.items():
    if name != "ingest":
        print()
        status = section(shared) or status
raise SystemExit(status)
