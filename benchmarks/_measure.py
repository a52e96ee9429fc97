"""Run a command; write the peak RSS and CPU time of that command alone to a JSON file.

    python -S benchmarks/_measure.py RESULT.json COMMAND [ARG...]

Linux starts a child's peak RSS from the address space it was forked from (kept across exec),
so a child spawned straight from the benchmark process would report the benchmark's own size
when that is larger. Launched from this small process, the command's figure is its own.
Exit status: the command's (128 + N when killed by signal N).
"""

import json
import os
import sys


def main() -> int:
    result_path, command = sys.argv[1], sys.argv[2:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"{command[0]}: {exc.strerror}\n".encode())
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(result_path, "w") as out:
        json.dump({"maxrss_kb": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}, out)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
