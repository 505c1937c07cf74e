"""Listening and keeping: microphone -> voice activity -> recording on disk + recognizer ->
transcript. The journal (``selfkind.journal``) is where what is heard is kept."""
