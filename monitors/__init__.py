"""defwatch's domain: fetch, parse, classify, cluster, match and store news about defence cooperation.

This package never imports ``telegram`` or ``bot``.
"""
