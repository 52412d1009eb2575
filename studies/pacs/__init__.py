"""DICOM networking: the listener (SCP), queries and retrieves as SCU, durable retrieve jobs.

Modules, one job each: ``nodes`` (who may talk to us, which PACS we talk to), ``statuses``
(ingest outcome → DIMSE status), ``listener`` (C-ECHO/C-STORE/C-FIND SCP), ``find_scp``
(answering C-FIND from the index), ``scu`` (C-ECHO, C-FIND, C-MOVE, C-GET as SCU), ``query``
(validated search terms → identifiers → rows), ``jobs`` (queue, claim, run, cancel),
``progress`` (channel-layer events), ``worker`` (the daemon loop); ``views``/``urls`` (JSON
for the UI, mounted at ``pacs/``) and ``admin``.
"""
