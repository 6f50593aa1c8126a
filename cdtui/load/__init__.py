"""Load generation for the ``load:`` stage kind: an open model (constant arrival rate, latency
timed from each request's intended send, so a stalled server cannot hide) and a closed model
(``vus``), over a small keep-alive HTTP/1.1 client, in worker processes that know their limits.

Nothing here imports textual or the engine; the stage kind (``cdtui.stages.load``) drives it.
"""
