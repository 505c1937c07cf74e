"""selfkind: offline, voice-guided self-compassion practice."""

__version__ = "0.1.0"
