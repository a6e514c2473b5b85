"""Models: specs (``specs``), the offline SmolLM2 default (``smollm2``), device and dtype rules
(``devices``), loading (``loading``) and tiny random models for tests (``testing``)."""
