"""defwatch's domain: fetch, parse, classify, cluster, match and store the news.

This package never imports ``telegram`` or ``bot``.
"""
