"""Evaluation stage: judge reliability, gold monitoring of policies, arena scores, reward-hacking detection."""
