"""Validate a rendered device config with the real tool on this machine, before it is applied."""

import subprocess
import tempfile


def tool_rejects(argv: list[str], text: str, *, name: str, timeout: float) -> str:
    """Run `argv` + a temporary file holding `text`; the tool's complaint ("" when it
    accepts), with the temporary path shown as `name`."""
    with tempfile.NamedTemporaryFile("w", suffix=f"-{name}", prefix="check-") as handle:
        handle.write(text)
        handle.flush()
        result = subprocess.run(  # noqa: S603 - a fixed tool and our own temporary file
            [*argv, handle.name], capture_output=True, text=True, timeout=timeout, check=False
        )
    if result.returncode == 0:
        return ""
    message = (result.stderr or result.stdout).strip().replace(handle.name, name)
    return message or f"{' '.join(argv)} exited {result.returncode}"
