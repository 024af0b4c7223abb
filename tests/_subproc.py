"""Run Python snippets in a fresh interpreter (registries are global)."""
import json
import subprocess
import sys
import textwrap


def run_python(code: str, timeout: int = 300) -> dict:
    """Run ``code``; it must print one JSON line last. Returns it."""
    proc = subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'subprocess failed:\n{proc.stderr[-4000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])
