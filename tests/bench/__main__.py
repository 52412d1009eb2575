"""python -m tests.bench : the ingest benchmark, ours against Orthanc."""

from tests.bench.ingest import main

raise SystemExit(main())
