"""The private journal: what a person said (or wrote), its audio and transcript, in SQLite
on disk (``store.py``); keeping and recovering recordings (``keep.py``); exports
(``export.py``)."""
