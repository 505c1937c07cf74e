"""Listening and keeping: microphone -> voice activity -> recording on disk + recognizer ->
transcript. The journal (``selfkind.journal``) is where what is heard is kept."""

END_SILENCE_S = 3.0
"""After speech, this much quiet means the speaker has finished. Here rather than in vad.py
so the command line can show it as a default without loading numpy."""
