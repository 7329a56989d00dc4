"""Modal worker for codecheck: runs one research job per function call.

The codecheck server (CODECHECK_EXECUTOR=modal) spawns
`process_research_job(job_id, address, llm_provider, worker_token)` through
Modal's Go SDK. The function runs the statically linked codecheck binary,
`codecheck work --job-id JOB_ID`, which claims the job, runs its sections and
saves the results like any other worker. It reaches the job in one of two
ways, chosen by the `code-check-secrets` secret:

- Worker API (recommended): the secret holds CODECHECK_API_URL (the server's
  base URL as the container reaches it) and the provider keys, and no
  DATABASE_URL. worker_token, a token the server minted for this job alone
  (serve needs CODECHECK_WORKER_SECRET), reaches the binary as
  CODECHECK_WORKER_TOKEN in its environment, never on its command line. The
  container holds no database credentials and opens no database connection.
- Direct database: the secret holds DATABASE_URL (postgres://) and no
  CODECHECK_API_URL; worker_token is not used.

This function only starts the binary, streams its logs to Modal, and returns
a small summary. Deploy from the repository root, after `make modal-binary`:

    modal deploy deploy/modal/modal_worker.py

See deploy/modal/README.md.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
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

# Environment variables of the two worker modes (see the module docstring).
API_URL_VAR = "CODECHECK_API_URL"
TOKEN_VAR = "CODECHECK_WORKER_TOKEN"
# The database URLs codecheck reads; in worker-API mode none reaches the binary.
DATABASE_VARS = ("DATABASE_URL", "CODECHECK_LISTEN_DATABASE_URL")

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


def _api_mode() -> bool:
    """True when the secret selects the worker API (CODECHECK_API_URL set)."""
    return os.environ.get(API_URL_VAR, "").strip() != ""


def _child_env(worker_token: str) -> dict:
    """The environment codecheck runs with: the secret's, plus the job's token in worker-API mode.

    The token goes into this copy only: not into this process's environment,
    not onto the command line, not into any log line or return value.
    """
    env = dict(os.environ)
    env.setdefault("CODECHECK_JOB_TIMEOUT", JOB_TIMEOUT)
    if _api_mode():
        # Worker-API mode: the binary gets no database URL, even if the
        # secret still carries one, so the codecheck process holds no database
        # credentials and cannot open a connection. (This Python process still
        # sees whatever the secret holds: leave DATABASE_URL out of the secret
        # for the container to hold none at all.)
        for name in DATABASE_VARS:
            env.pop(name, None)
        env[TOKEN_VAR] = worker_token
    else:
        # Direct-database mode: codecheck ignores the token; do not hand it on.
        env.pop(TOKEN_VAR, None)
    return env


# The line `codecheck work` prints on stdout when it ends, e.g.
# "job ID completed (13/13)" or "job ID failed (12/13)"; and the lines for a
# job it did not run (cmd/codecheck/work.go).
_RESULT_LINE = re.compile(r"^job (\S+) (pending|processing|completed|failed|canceled) \((\d+/\d+)\)$")
_FINISHED_LINE = re.compile(r"^job (\S+) is already (\w+); not running it again$")
_HELD_LINE = re.compile(r"^job (\S+) is being run by another worker; not waiting")


def _outcome(job_id: str, line: str):
    """{status, progress} when line is one of `codecheck work`'s result lines for job_id, else None."""
    line = line.strip()
    m = _RESULT_LINE.match(line)
    if m and m.group(1) == job_id:
        return {"status": m.group(2), "progress": m.group(3)}
    m = _FINISHED_LINE.match(line)
    if m and m.group(1) == job_id:
        return {"status": m.group(2), "progress": ""}
    m = _HELD_LINE.match(line)
    if m and m.group(1) == job_id:
        return {"status": "processing", "progress": ""}
    return None


def _run_job(job_id: str, env: dict):
    """Runs `codecheck work`, streaming its output.

    Returns (exit code, the last result line's {status, progress} or None).
    """
    outcome = None
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
                outcome = _outcome(job_id, line) or outcome
            return proc.wait(), outcome
        except BaseException:
            # Input cancelled (FunctionCall.Cancel), container stopping, or
            # a bug here: never leave codecheck running without us.
            _stop(proc)
            raise


def _report(job_id: str) -> dict:
    """Status and progress from `codecheck report --format json` (direct-database mode only)."""
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
def process_research_job(job_id: str, address: str, llm_provider: str, worker_token: str = "") -> dict:
    """Runs one codecheck job to the end; returns {job_id, status, progress, exit_code}.

    address and llm_provider are what the server stored with the job; the
    worker reads the job itself, so they are only logged. worker_token is the
    job's worker token ("" when serve has no CODECHECK_WORKER_SECRET).

    Worker-API mode (CODECHECK_API_URL in the secret): worker_token is
    required and reaches codecheck only as CODECHECK_WORKER_TOKEN in its
    environment; codecheck gets no DATABASE_URL. status and progress come
    from the result line `codecheck work` prints when it ends ("job ID
    completed (13/13)"); when it printed none (stopped before the end, exit
    code 3, or an error) they are "unknown" and "": this container cannot
    read the job, so ask the server (GET /jobs/{id}).

    Direct-database mode (no CODECHECK_API_URL): DATABASE_URL must be the
    server's postgres:// URL; worker_token is not used; status and progress
    come from `codecheck report`, read from the database after the run.
    """
    api = _api_mode()
    if api:
        if not worker_token.strip():
            # Without it codecheck would exit 2 naming CODECHECK_WORKER_TOKEN;
            # say here why the token is missing.
            raise RuntimeError(
                f"{API_URL_VAR} is set in the {SECRET_NAME} secret, so the call needs the job's worker "
                f"token as its fourth argument, and it is empty: start codecheck serve with "
                f"CODECHECK_WORKER_SECRET (the same on every replica), or remove {API_URL_VAR} "
                f"from the secret to use DATABASE_URL"
            )
        present = [name for name in DATABASE_VARS if os.environ.get(name)]
        if present:
            _log(
                f"{', '.join(present)} in the {SECRET_NAME} secret is not passed to codecheck "
                f"in worker-API mode; remove it from the secret so containers hold no database credentials"
            )
    elif not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        # Without it codecheck would fall back to an empty SQLite file in the
        # container and report the job as not found.
        raise RuntimeError(
            f"DATABASE_URL must be set to the server's postgres:// URL in the {SECRET_NAME} secret "
            f"(or set {API_URL_VAR} there to use the worker API)"
        )
    elif worker_token:
        _log(f"job {job_id}: the hand-off carries a worker token but {API_URL_VAR} is not set; using DATABASE_URL")
    mode = "worker API" if api else "direct database"
    _log(f"job {job_id}: starting via {mode} (provider {llm_provider or 'default'}, address of {len(address)} characters)")
    exit_code, outcome = _run_job(job_id, _child_env(worker_token))
    if exit_code == 2:
        # Bad configuration (e.g. a variable missing from the secret): fail
        # the call so it shows as failed in Modal.
        raise RuntimeError(
            f"codecheck work exited 2 (configuration error) for job {job_id}; "
            f"check the {SECRET_NAME} secret; the log above names the variable"
        )
    if api:
        status = outcome or {"status": "unknown", "progress": ""}
    else:
        status = _report(job_id)
    summary = {"job_id": job_id, "exit_code": exit_code, **status}
    _log(f"job {job_id}: {summary['status']} {summary['progress']} (exit code {exit_code})")
    return summary


# Lifetime of a token minted by the local entrypoint: the call's own limit
# plus a margin for the container to start.
LOCAL_TOKEN_TTL_S = FUNCTION_TIMEOUT_S + 300


def mint_worker_token(secret: str, job_id: str, ttl_s: int, now: float = None) -> str:
    """A worker token for job_id, as `codecheck serve` mints it (app/workertoken.go).

    "cwt1.<job id>.<unix expiry>.<base64url HMAC-SHA256 of the rest>", keyed
    by CODECHECK_WORKER_SECRET.
    """
    expiry = int(time.time() if now is None else now) + ttl_s
    body = f"cwt1.{job_id}.{expiry}"
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return body + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


@app.local_entrypoint()
def main(job_id: str, address: str = "", llm_provider: str = ""):
    """Runs an existing pending job once: modal run deploy/modal/modal_worker.py --job-id ID

    For a secret in worker-API mode the call needs the job's token: it is
    taken from CODECHECK_WORKER_TOKEN in your local environment, or minted
    here for this job from CODECHECK_WORKER_SECRET (the server's secret; it
    stays on this machine, only the token goes to Modal). With neither set
    the token is empty, which direct-database mode does not need.
    """
    token = os.environ.get(TOKEN_VAR, "")
    secret = os.environ.get("CODECHECK_WORKER_SECRET", "")
    if not token and secret:
        token = mint_worker_token(secret, job_id, LOCAL_TOKEN_TTL_S)
    print(process_research_job.remote(job_id, address, llm_provider, token))
