"""Judges: values (Verdict, items: ``types``), the Judge protocol (``base``) and its
implementations (``llm``, ``reward_model``, ``ensemble``, ``cache``), templates, parsing
(``parsing/``), aggregation, and the one loader (``registry.load_judge``) that turns any judge
spec into a Judge."""
