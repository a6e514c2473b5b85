"""judgelab: train, run and stress-test LLM judges used as rewards in RL post-training.

Pipeline (one module or subpackage per stage, in the order data flows):
data -> sample -> annotate -> judges -> train -> evaluate -> report -> cli.
"""

__version__ = "0.1.0"

from judgelab.errors import JudgelabError

__all__ = ["JudgelabError", "__version__"]
