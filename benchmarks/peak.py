"""Run a Python command and write its own peak resident size to a file when it exits.

`python -m benchmarks.peak OUT -m module args...` (or `... OUT -c code`). The kernel's `ru_maxrss` of a
child is no use here: it keeps the high-water mark of the process image it replaced at exec, so every
child started by a benchmark that grew to 230 MiB reports at least 230 MiB. `VmHWM` in
/proc/self/status belongs to the new image alone."""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    out, mode, target, *rest = sys.argv[1:]
    atexit.register(lambda: Path(out).write_text(str(vm_hwm_kib())))
    if mode == "-m":
        sys.argv = [target, *rest]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    elif mode == "-c":
        sys.argv = ["-c", *rest]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    else:
        raise SystemExit(f"python -m benchmarks.peak OUT (-m module | -c code) [args...], not {mode!r}")


if __name__ == "__main__":
    main()
