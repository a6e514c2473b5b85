"""Training stage: judges (SFT, reward models, GRPO) and policies (GRPO with judge rewards), all through TRL."""
