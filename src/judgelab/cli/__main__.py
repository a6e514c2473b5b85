"""``python -m judgelab.cli`` (and ``accelerate launch -m judgelab.cli ...``)."""

from judgelab.cli import main

if __name__ == "__main__":
    main()
