"""Judges: values (Verdict, items), templates, parsers, backends, aggregation, the Judge itself."""
