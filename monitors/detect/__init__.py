"""Detection: what a news text says, decided without I/O.

Every module here is pure: it reads its knowledge from ``config/`` files once and then maps
text to values. Nothing here opens a database, a socket or a Telegram connection, and nothing
imports the rest of ``monitors`` except the plain values of ``monitors.domain`` and the error
tree of ``monitors.errors`` (``tests/test_layering.py`` checks it).

- ``data``          reading a data file of ``config/`` (errors name the file)
- ``countries``     the gazetteer: which states a text names; resolving what users type
- ``relations``     relations between states the classifier needs (rivals, blocs)
- ``textfeatures``  language-light features of a headline: words, numbers, places, kinds
- ``classify``      is this report defence cooperation, between whom, of which type
- ``cluster``       are two reports the same real-world event (one alert per event)
- ``evaluate``      score the classifier against labelled news
"""
