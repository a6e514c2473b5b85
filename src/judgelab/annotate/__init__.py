"""Annotate stage: the gold judge labels pairs of responses (and optionally scores each one).

``annotate.stage`` runs it (``AnnotateConfig``, ``annotate``, the summary; its docstring says what
it reads and writes); ``annotate.plan`` decides which pairs are judged and turns verdicts into rows.
"""
