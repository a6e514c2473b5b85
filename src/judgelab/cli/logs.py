"""Where the ``judgelab`` command's output goes: judgelab's lines on the terminal, library output
in a log file.

The terminal shows judgelab's own lines (the commands' ``click.echo`` output, judgelab loggers at
WARNING, INFO with ``-v``, DEBUG with ``-vv``), its progress bars, and errors of any library.
Everything else -- library warnings (``warnings.warn`` included), transformers' load reports,
TRL/transformers trainer metric dicts -- goes to the log file, with judgelab's own log lines beside
it: ``--log-file PATH`` (or ``$JUDGELAB_LOG_FILE``), else ``<run dir>/logs/judgelab.log`` for a
command that has a run directory, else ``$JUDGELAB_CACHE/logs/<command>.log`` (default root
``~/.cache/judgelab``); a ``--dry-run`` writes none unless ``--log-file`` names one. The file is
appended to, ANSI colour codes stripped. ``-vv`` also shows library lines on the terminal. Under a data-parallel launch (``WORLD_SIZE`` > 1) every line, in the
file and on the terminal, carries its ``[rank N]``, and only rank 0 shows judgelab's INFO lines on
the terminal (the other ranks show their warnings and errors); one process is unchanged. transformers, datasets and huggingface_hub install their own stderr
handlers when they are imported; ``_LibraryLogRouting`` routes them through ours instead (without
importing them before a command needs them, so ``--help`` stays fast).
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from judgelab.errors import JudgelabError

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_state: dict[str, Any] = {"verbose": 0, "log_file": None, "file_handler": None}


class _Stderr(logging.StreamHandler):
    """stderr as it is at emit time (pytest and click's runner swap sys.stderr)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _rank_label() -> str:
    """``[rank N] `` under a data-parallel launch (torchrun / accelerate set RANK and WORLD_SIZE); '' otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return ""
    return f"[rank {os.environ.get('RANK', '0')}] "


class _TerminalFilter(logging.Filter):
    """judgelab's loggers at the chosen level, libraries' errors; all of it with -vv."""

    def __init__(self, level: int, everything: bool):
        super().__init__()
        self.level, self.everything = level, everything

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "file_only", False):
            return False
        if self.everything:
            return True
        if record.name == "judgelab" or record.name.startswith("judgelab."):
            return record.levelno >= self.level
        return record.levelno >= logging.ERROR


class _PlainFormatter(logging.Formatter):
    """The file gets no ANSI colour codes (transformers colours its load report)."""

    def format(self, record: logging.LogRecord) -> str:
        return _ANSI.sub("", super().format(record))


class _LogFile(logging.FileHandler):
    """The log file; counts the library warnings the terminal did not show."""

    def __init__(self, path: Path, level: int):
        super().__init__(path, mode="a", encoding="utf-8", delay=True)
        self.setLevel(level)
        self.setFormatter(_PlainFormatter(_FORMAT.replace("%(name)s", _rank_label() + "%(name)s")))
        self.hidden_warnings = 0
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        if record.levelno >= logging.WARNING and not (record.name == "judgelab" or record.name.startswith("judgelab.")):
            self.hidden_warnings += record.levelno < logging.ERROR
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        # A full disk or an unwritable file: say so once, keep the command running (logging's
        # default prints a traceback for every record).
        if not self.failed:
            self.failed = True
            click.echo(f"warning: cannot write the log file {self.baseFilename}: {sys.exc_info()[1]}; "
                       "library lines are not kept", err=True)

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the last flush failed (disk full): nothing more to keep
            pass


def setup_logging(verbose: int, log_file: str | None) -> None:
    """The terminal handler for this invocation (``-v`` count) and where its log file goes
    (``--log-file``; None: the default place). Replaces the handler an earlier invocation in this
    process installed (tests run many)."""
    from judgelab.redact import install_log_filter

    _state["verbose"], _state["log_file"] = verbose, log_file
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_judgelab", False) and not isinstance(h, _LogFile)]:
        root.removeHandler(h)
    level = logging.WARNING - 10 * min(verbose, 2)
    rank = _rank_label()
    if rank and not rank.startswith("[rank 0]"):
        level = max(level, logging.WARNING)  # the other ranks' INFO lines repeat rank 0's: the file keeps them
    term = _Stderr()
    term._judgelab = True  # type: ignore[attr-defined]
    term.addFilter(_TerminalFilter(level, everything=verbose >= 2))
    term.setFormatter(logging.Formatter(f"%(levelname)s {rank}%(name)s: %(message)s"))
    root.addHandler(term)
    root.setLevel(min(level, logging.INFO))  # INFO reaches the file even when the terminal shows WARNING
    _LibraryLogRouting.install()
    install_log_filter()  # no credential reaches the terminal or a log file, at any level


# Commands that create their run directory; the others log there only if it exists already (a
# mistyped --run must not leave a folder behind).
_CREATE_RUN_DIR = ("run", "sample")


def _run_dir_of(name: str, params: dict[str, Any]) -> Path | None:
    """The run directory a command writes to, if it has one."""
    if name == "doctor":
        return None  # it inspects a run directory; it does not run in it
    rd = params.get("run_dir")
    if name == "run":
        from judgelab.cli.run import run_overrides
        from judgelab.pipeline.config import load_run_config

        overrides = run_overrides(tuple(params.get("overrides") or ()), rd)
        try:
            rd = load_run_config(params.get("config_path"), overrides, preset=params.get("preset")).run_dir
        except JudgelabError:
            return None  # the command itself reports the bad config, in one line
    if not rd:
        return None
    rd = Path(rd)
    return rd if rd.is_dir() or name in _CREATE_RUN_DIR else None


def log_file_for(name: str, params: dict[str, Any]) -> Path:
    """Where a command's log goes (see the module docstring)."""
    if _state["log_file"]:
        return Path(_state["log_file"]).expanduser()
    rd = _run_dir_of(name, params)
    if rd is not None:
        return rd / "logs" / "judgelab.log"
    env = os.environ.get("JUDGELAB_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "judgelab"
    return root / "logs" / f"{name}.log"


def _start_log_file(name: str, params: dict[str, Any]) -> None:
    from judgelab.redact import install_log_filter

    _stop_log_file()
    if params.get("dry_run") and not _state["log_file"]:
        return  # a dry run promises to write nothing: no log file unless --log-file asks for one
    path = log_file_for(name, params)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if _state["log_file"] or name in _CREATE_RUN_DIR:  # asked for, or the run dir the command must write
            from judgelab.data.rundir import file_in_the_way

            blocker = file_in_the_way(path.parent)
            if blocker is not None and not _state["log_file"]:  # the run dir (or a folder above it) is a file
                raise JudgelabError("a file, not a folder: the run directory cannot be made there",
                                    where=str(blocker), hint="give --run-dir a folder path") from None
            raise JudgelabError(f"cannot create the log folder: {exc.strerror}", where=str(path.parent),
                                hint="pass --log-file PATH somewhere writable") from None
        # The default place (a read-only run dir, no writable home): the command needs no log to run.
        click.echo(f"warning: no log file ({path.parent}: {exc.strerror}); pass --log-file PATH to keep "
                   "library lines", err=True)
        return
    handler = _LogFile(path, logging.DEBUG if _state["verbose"] >= 2 else logging.INFO)
    handler._judgelab = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.addHandler(handler)
    install_log_filter()
    logging.captureWarnings(True)  # warnings.warn -> the 'py.warnings' logger -> the file
    _state["file_handler"] = handler
    logging.getLogger("judgelab.cli").info("judgelab %s", " ".join(_state.get("argv") or ()))


def _stop_log_file() -> None:
    handler = _state.get("file_handler")
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    handler.close()
    logging.captureWarnings(False)
    _state["file_handler"] = None
    if handler.hidden_warnings:
        click.echo(f"{handler.hidden_warnings} library warning{'s' if handler.hidden_warnings > 1 else ''} "
                   f"in {handler.baseFilename}", err=True)


def remember_argv(argv: list[str]) -> None:
    """The command line, written as the log file's first line."""
    _state["argv"] = argv


def with_log_file(cmd: click.Command, name: str) -> click.Command:
    """Open the command's log file once its options are parsed (never for ``--help``)."""
    if cmd.callback is None or getattr(cmd.callback, "_judgelab_logs", False):
        return cmd
    callback = cmd.callback

    @functools.wraps(callback)
    def run(*args: Any, **params: Any) -> Any:
        _start_log_file(name, params)
        click.get_current_context().call_on_close(_stop_log_file)
        try:
            return callback(*args, **params)
        except (JudgelabError, click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception:
            # A bug: the traceback reaches the terminal anyway (uncaught); keep it beside the
            # library lines that led to it.
            logging.getLogger("judgelab.cli").exception("judgelab %s failed", name, extra={"file_only": True})
            raise

    run._judgelab_logs = True  # type: ignore[attr-defined]
    cmd.callback = run
    return cmd


def _route_transformers(m: Any) -> None:
    m.disable_default_handler()  # its stderr handler; records propagate to ours instead
    m.enable_propagation()
    m.disable_progress_bar()  # "Loading weights" bars are not judgelab's


def _drop_stream_handlers(logger_name: str) -> Any:
    def fix(_m: Any) -> None:
        lg = logging.getLogger(logger_name)
        for h in [h for h in lg.handlers if type(h) is logging.StreamHandler]:
            lg.removeHandler(h)
    return fix


class _FixAfterExec(importlib.abc.Loader):
    def __init__(self, loader: Any, fix: Any):
        self.loader, self.fix = loader, fix

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        self.fix(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code... for tracebacks and inspect
        return getattr(self.loader, name)


class _LibraryLogRouting(importlib.abc.MetaPathFinder):
    """Runs ``FIXES[module]`` right after that library logging module is first imported."""

    FIXES = {
        "transformers.utils.logging": _route_transformers,
        "datasets.utils.logging": _drop_stream_handlers("datasets"),
        "huggingface_hub.utils.logging": _drop_stream_handlers("huggingface_hub"),
    }

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        fix = self.FIXES.get(fullname)
        if fix is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _FixAfterExec(spec.loader, fix)
        return spec

    @classmethod
    def install(cls) -> None:
        if not any(isinstance(f, cls) for f in sys.meta_path):
            sys.meta_path.insert(0, cls())
        for name, fix in cls.FIXES.items():  # already imported (in-process callers, tests)
            if name in sys.modules:
                fix(sys.modules[name])
