"""The local web page: the library, the player, reflections and the journal in a browser.

A thin layer over the library, like the CLI: ``app.py`` holds the routes, ``security.py``
who may ask for what, ``sessions.py`` rendering practices for the player, and
``reflections.py`` a spoken reflection arriving from the browser's microphone.
"""
