"""The loudness plan every stage shares: clips are leveled to one loudness, so the gain that
brings a session to its target is known before it is mixed, and peaks stay under a ceiling
that leaves room for what lossy encoders add."""

from __future__ import annotations

TARGET_LUFS = -16.0
"""Integrated loudness of a finished session: a common target for spoken word."""

LOSSLESS_CEILING_DBTP = -1.5

LOSSY_CEILING_DBTP = -2.0
"""Lossy encoders add a little overshoot of their own; leave room for it."""

CLIP_LUFS = -18.0
"""Loudness (BS.1770) every prepared clip is leveled to."""

BELL_UNDER_VOICE_DB = -3.0
"""A bell's loudest short-term (3 s) loudness against the voice's clip loudness: the voice's
own short-term peaks sit a little above its clips' integrated loudness, so the bell ends up
at least 3 LU under the voice as heard, soft after a silence."""
