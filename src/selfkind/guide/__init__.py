"""Live guidance: a session played through the sound card as it is mixed (``player.py``),
listening at its reflection steps (``reflections.py``)."""
