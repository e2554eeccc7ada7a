"""Campaign progress on stderr: a rich progress bar when rich is installed and stderr is a
terminal, else plain text lines (never more than one a second, and a final one)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol

from sinch_async._cli._output import err
from sinch_async.fanout import FanOutProgress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["INSTALL_HINT", "ProgressView", "make_progress"]

INSTALL_HINT = "install sinch_async[cli] (pip install 'sinch_async[cli]') for a live progress bar"


class ProgressView(Protocol):
    def update(self, progress: FanOutProgress) -> None: ...

    def close(self, finished: bool = True) -> None:
        """Stop; ``finished`` means every row was read (the total is now exact)."""


def _rows_done(p: FanOutProgress) -> int:
    return p.recipients_sent + p.recipients_failed + p.invalid + p.duplicates


def _eta(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class NullProgress:
    def update(self, progress: FanOutProgress) -> None:
        pass

    def close(self, finished: bool = True) -> None:
        pass


class PlainProgress:
    """``label: 12,000 sent in 12 batches, 0 failed, 3,400/s, 40% of ~30,000 rows, ETA 0:05``."""

    def __init__(self, total: int | None, label: str, interval: float = 1.0) -> None:
        self.total = total
        self.label = label
        self.interval = interval
        self.tty = sys.stderr.isatty()
        self._last: FanOutProgress | None = None
        self._shown_at = 0.0
        self._shown: FanOutProgress | None = None

    def update(self, progress: FanOutProgress) -> None:
        self._last = progress
        now = time.monotonic()
        if now - self._shown_at >= self.interval:
            self._shown_at = now
            self._show(progress)

    def close(self, finished: bool = True) -> None:
        last = self._last
        if last is not None:
            changed = last is not self._shown
            if finished and self.total is not None and self.total != _rows_done(last):
                self.total = _rows_done(last)  # exact now (the count included blank lines)
                changed = True
            if changed:
                self._show(last)
        if self.tty and self._shown is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _show(self, p: FanOutProgress) -> None:
        self._shown = p
        line = (
            f"{self.label}: {p.recipients_sent:,} sent in {p.batches:,} batches, "
            f"{p.recipients_failed:,} failed, {p.rate:,.0f}/s"
        )
        done = _rows_done(p)
        if self.total:
            line += f", {min(100.0, 100.0 * done / self.total):.0f}% of ~{self.total:,} rows"
            if 0 < done < self.total and p.elapsed > 0:
                line += f", ETA {_eta((self.total - done) * p.elapsed / done)}"
        if self.tty:
            sys.stderr.write(f"\r{line}\x1b[K")
            sys.stderr.flush()
        else:
            err(line)


class RichProgress:
    """A ``rich.progress`` bar: rows done of the (cheaply counted) total, then recipients
    sent, batches, failures, rate and the ETA (the elapsed time once finished)."""

    def __init__(self, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            ProgressColumn,
            Task,
            TaskProgressColumn,
            TextColumn,
        )
        from rich.text import Text

        class EtaColumn(ProgressColumn):
            def render(self, task: Task) -> Text:
                if task.finished:
                    return Text(f"in {_eta(task.finished_time or 0)}", style="green")
                if task.time_remaining is None:
                    return Text("eta -:--", style="cyan")
                return Text(f"eta {_eta(task.time_remaining)}", style="cyan")

        self._progress: Progress = Progress(
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TextColumn("{task.fields[stats]}"),
            EtaColumn(),
            console=Console(stderr=True),
            refresh_per_second=8,
        )
        self.total = total
        self._task: TaskID = self._progress.add_task("sending", total=total, stats="starting")
        self._progress.start()

    def update(self, progress: FanOutProgress) -> None:
        failed = f"{progress.recipients_failed:,} failed"
        if progress.recipients_failed:
            failed = f"[red]{failed}[/red]"
        stats = (
            f"{progress.recipients_sent:,} sent \u00b7 {progress.batches:,} batches \u00b7 "
            f"{failed} \u00b7 {progress.rate:,.0f}/s"
        )
        done = _rows_done(progress)
        if self.total is not None and done > self.total:
            self.total = done
            self._progress.update(self._task, total=done)
        self._progress.update(self._task, completed=done, stats=stats)

    def close(self, finished: bool = True) -> None:
        if finished:  # the counted total may include blank lines: show the real end
            done = self._progress.tasks[0].completed
            self._progress.update(self._task, total=done, completed=done)
        self._progress.stop()


def make_progress(mode: str, total: int | None, label: str = "sending") -> ProgressView:
    """``mode``: ``auto`` (rich on a terminal, plain otherwise), ``rich``, ``plain``, ``none``."""
    if mode == "none":
        return NullProgress()
    if mode == "rich" or (mode == "auto" and sys.stderr.isatty()):
        try:
            return RichProgress(total)
        except ImportError:
            pass
        if mode == "rich":
            err(f"note: rich is not installed; {INSTALL_HINT}")
    return PlainProgress(total, label)
