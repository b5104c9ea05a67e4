"""Analyst views of the stored stories (issue 16).

analysis   pure numbers from plain story data: partners, weekly trend, cooperation graph
queries    the few reads the views need (a session passed in, no commit)
charts     the numbers as phone-sized PNG pictures (matplotlib, Agg backend)
tables     the same numbers as text tables for the command line
service    query -> numbers -> picture, rendered off the event loop and cached per data version
export     stories as CSV or JSON Lines rows
atom       stories as an Atom feed; ``atom_server`` serves it on a local address
"""
