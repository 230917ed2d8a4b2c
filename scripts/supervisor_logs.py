"""Supervisor event listener: every program's output, one line at a time, prefixed by its process name.

supervisord sends PROCESS_LOG events (scripts/supervisord.conf) on this
process's stdin and reads the listener protocol on its stdout, so the lines go
to stderr, which supervisord copies to its own stdout. Output arrives in
chunks that may split lines; a partial line waits for the rest.
"""

import sys


def parse_tokens(line: bytes) -> dict[str, str]:
    return dict(token.split(":", 1) for token in line.decode().split())


def main() -> None:
    stdin, protocol, out = sys.stdin.buffer, sys.stdout.buffer, sys.stderr.buffer
    partial: dict[str, bytes] = {}
    width = 8
    while True:
        protocol.write(b"READY\n")
        protocol.flush()
        header = parse_tokens(stdin.readline())
        payload = stdin.read(int(header["len"]))
        first_line, _, data = payload.partition(b"\n")
        name = parse_tokens(first_line).get("processname", "?")
        width = max(width, len(name))
        lines = (partial.pop(name, b"") + data).split(b"\n")
        if lines[-1]:
            partial[name] = lines[-1]
        prefix = name.ljust(width).encode() + b" | "
        out.write(b"".join(prefix + line + b"\n" for line in lines[:-1]))
        out.flush()
        protocol.write(b"RESULT 2\nOK")
        protocol.flush()


if __name__ == "__main__":
    main()
