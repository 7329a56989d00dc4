"""Modal worker for codecheck: runs one research job per function call.

The codecheck server (CODECHECK_EXECUTOR=modal) spawns
`process_research_job(job_id, address, llm_provider)` through Modal's Go SDK.
The function runs the statically linked codecheck binary,
`codecheck work --job-id JOB_ID`, which claims the job in the shared Postgres
(DATABASE_URL from the `code-check-secrets` secret), runs its sections and
writes the results there like any other worker. This function only starts the
binary, streams its logs to Modal, and returns a small summary.

Deploy from the repository root, after `make modal-binary`:

    modal deploy deploy/modal/modal_worker.py

See deploy/modal/README.md.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import modal

# Must match CODECHECK_MODAL_APP / CODECHECK_MODAL_FUNCTION on the server
# (defaults: code-check-worker / process_research_job).
APP_NAME = "code-check-worker"
SECRET_NAME = "code-check-secrets"
BINARY = "/usr/local/bin/codecheck"

# Modal kills the call after this many seconds; codecheck's own job timeout is
# set below it so the worker can still record the timeout in the store.
FUNCTION_TIMEOUT_S = 300
JOB_TIMEOUT = "270s"
# How long codecheck gets after SIGTERM before SIGKILL: its drain
# (CODECHECK_DRAIN_TIMEOUT, default 20s) plus releasing the job.
STOP_GRACE_S = 30

# The binary is built by `make modal-binary` (CGO_ENABLED=0 GOOS=linux
# GOARCH=amd64). Resolved from this file, so `modal deploy` works from any
# directory; inside the container this path is never read.
_REPO = Path(__file__).resolve().parent.parent.parent
_LOCAL_BINARY = _REPO / "dist" / "codecheck-linux-amd64"

image = (
    modal.Image.debian_slim()
    .apt_install("ca-certificates")  # TLS to Postgres and the LLM providers
    .add_local_file(str(_LOCAL_BINARY), BINARY, copy=True)
    .run_commands(f"chmod 0755 {BINARY}", f"{BINARY} version")
)

app = modal.App(APP_NAME)


def _log(message: str) -> None:
    print(f"modal_worker: {message}", flush=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM codecheck (it releases an unfinished job), then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _run_job(job_id: str) -> int:
    """Runs `codecheck work`, streaming its output; returns its exit code."""
    env = dict(os.environ)
    env.setdefault("CODECHECK_JOB_TIMEOUT", JOB_TIMEOUT)
    with subprocess.Popen(
        # --wait=false: a second call for a job another container is running
        # (a hand-off made again after CODECHECK_HANDOFF_TIMEOUT) exits at
        # once instead of holding a container until that job ends. A dead
        # worker's job is claimable anyway once its lease expired.
        [BINARY, "work", "--job-id", job_id, "--wait=false"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
            return proc.wait()
        except BaseException:
            # Input cancelled (FunctionCall.Cancel), container stopping, or
            # a bug here: never leave codecheck running without us.
            _stop(proc)
            raise


def _report(job_id: str) -> dict:
    """Status and progress from `codecheck report --format json`."""
    try:
        out = subprocess.run(
            [BINARY, "report", "--job-id", job_id, "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        job = json.loads(out).get("job", {})
        return {"status": job.get("status", "unknown"), "progress": job.get("progress", "")}
    except (OSError, subprocess.SubprocessError, ValueError, AttributeError) as exc:
        _log(f"job {job_id}: could not read the report: {type(exc).__name__}")
        return {"status": "unknown", "progress": ""}


@app.function(
    image=image,
    secrets=[modal.Secret.from_name(SECRET_NAME)],
    timeout=FUNCTION_TIMEOUT_S,
)
def process_research_job(job_id: str, address: str, llm_provider: str) -> dict:
    """Runs one codecheck job to the end; returns {job_id, status, progress, exit_code}.

    address and llm_provider are what the server stored with the job; the
    worker reads the job itself from the store, so they are only logged.
    """
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        # Without it codecheck would fall back to an empty SQLite file in the
        # container and report the job as not found.
        raise RuntimeError(
            f"DATABASE_URL must be set to the server's postgres:// URL in the {SECRET_NAME} secret"
        )
    _log(f"job {job_id}: starting (provider {llm_provider or 'default'}, address of {len(address)} characters)")
    exit_code = _run_job(job_id)
    if exit_code == 2:
        # Bad configuration (e.g. DATABASE_URL missing from the secret):
        # fail the call so it shows as failed in Modal.
        raise RuntimeError(
            f"codecheck work exited 2 (configuration error) for job {job_id}; "
            f"check the {SECRET_NAME} secret; the log above names the variable"
        )
    summary = {"job_id": job_id, "exit_code": exit_code, **_report(job_id)}
    _log(f"job {job_id}: {summary['status']} {summary['progress']} (exit code {exit_code})")
    return summary


@app.local_entrypoint()
def main(job_id: str, address: str = "", llm_provider: str = ""):
    """Runs an existing pending job once: modal run deploy/modal/modal_worker.py --job-id ID"""
    print(process_research_job.remote(job_id, address, llm_provider))
