"""The viewer's websocket: progressive, latest-wins pixel streaming (see PROTOCOL.md).

protocol (wire format) → plan (geometry of a view) → scheduler (latest wins, render threads)
→ progressive (one view, step by step) → outbox (bounded, stale-free sending) → consumer
(the thin Channels consumer); study_outline and lookup read the index, measurements measure.
"""
