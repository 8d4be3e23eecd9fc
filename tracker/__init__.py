"""tracker: watches defence-policy feeds, keeps every item, links stories, tells people."""

__version__ = "0.1.0"
