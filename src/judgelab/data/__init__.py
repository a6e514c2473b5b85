"""Data stage: prompt sets, record schemas, JSONL I/O, run directories and the judgment store."""
