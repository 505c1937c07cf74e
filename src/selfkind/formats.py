"""The audio formats a session can be written in, apart from how each is encoded, so the
command line can list them without loading the encoder and numpy."""

FORMATS = ("wav", "flac", "mp3", "ogg", "m4a")
LOSSY_FORMATS = ("mp3", "ogg", "m4a")
