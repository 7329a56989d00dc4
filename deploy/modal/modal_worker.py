"""Modal worker for codecheck: runs one research job per function call.

The codecheck server (CODECHECK_EXECUTOR=modal) spawns
`process_research_job(job_id, address, llm_provider, worker_token)` through
Modal's Go SDK. The function runs the statically linked codecheck binary,
`codecheck work --job-id JOB_ID`, which claims the job, runs its sections and
saves the results like any other worker. It reaches the job in one of two
ways, chosen when the function is deployed (CODECHECK_MODAL_WORKER_MODE):

- api (the default, recommended): the `code-check-secrets` secret holds
  CODECHECK_API_URL (the servers' base URL as the container reaches it) and
  the provider keys, and no DATABASE_URL. worker_token, a token the server
  minted for this job alone (serve needs CODECHECK_WORKER_SECRET), reaches
  the binary as CODECHECK_WORKER_TOKEN in its environment, never on its
  command line. The container holds no database credentials and opens no
  database connection.
- database: the secret holds DATABASE_URL (postgres://); worker_token is not
  used.

Deploy-time settings, read from the environment of `modal deploy` (and
handed to the container with `env=`, so that the module computes the same
values there):

    CODECHECK_MODAL_WORKER_MODE     api | database             (default api)
    CODECHECK_MODAL_MAX_CONTAINERS  containers at once          (default 50)
    CODECHECK_MODAL_JOB_TIMEOUT     codecheck's job timeout     (default 300s);
                                    the function timeout is derived from it
    CODECHECK_MODAL_REQUIRED_KEYS   more keys the secret must hold, e.g.
                                    PERPLEXITY_API_KEY,OPENAI_API_KEY

The secret is declared with required_keys for the chosen mode, so a missing
key fails `modal deploy`, not the first job. This function only starts the
binary, streams its logs to Modal, and returns a small summary. Deploy from
the repository root, after `make modal-binary`:

    modal deploy deploy/modal/modal_worker.py

See deploy/modal/README.md (sizing, the timeout budget, logs).
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

# Environment variables of the two worker modes (see the module docstring).
API_URL_VAR = "CODECHECK_API_URL"
TOKEN_VAR = "CODECHECK_WORKER_TOKEN"
# The database URLs codecheck reads; in worker-API mode none reaches the binary.
DATABASE_VARS = ("DATABASE_URL", "CODECHECK_LISTEN_DATABASE_URL")
JOB_TIMEOUT_ENV = "CODECHECK_JOB_TIMEOUT"

# Deploy-time settings (module docstring). They are read when `modal deploy`
# imports this file, and passed into the container with `env=`.
MODE_VAR = "CODECHECK_MODAL_WORKER_MODE"
MAX_CONTAINERS_VAR = "CODECHECK_MODAL_MAX_CONTAINERS"
JOB_TIMEOUT_VAR = "CODECHECK_MODAL_JOB_TIMEOUT"
REQUIRED_KEYS_VAR = "CODECHECK_MODAL_REQUIRED_KEYS"
DEPLOY_VARS = (MODE_VAR, MAX_CONTAINERS_VAR, JOB_TIMEOUT_VAR, REQUIRED_KEYS_VAR)

# The key each mode needs in the secret (checked by Modal at deploy time).
MODE_KEYS = {"api": API_URL_VAR, "database": "DATABASE_URL"}
DEFAULT_MODE = "api"
DEFAULT_MAX_CONTAINERS = 50
# codecheck's own default job timeout (app.DefaultJobTimeout), and serve's.
# Keep the container's at or below serve's CODECHECK_JOB_TIMEOUT: the job's
# worker token expires after serve's hand-off timeout + job timeout + 1 min.
DEFAULT_JOB_TIMEOUT_S = 300
MIN_JOB_TIMEOUT_S = 30
# Modal accepts function timeouts from 1 second to 24 hours.
MODAL_MAX_TIMEOUT_S = 24 * 3600

# The timeout budget of one call, in seconds (deploy/modal/README.md has the
# table). The function timeout is the sum, so each phase fits inside it.
#
# Before the job clock starts: codecheck starts, claims the job (the
# worker-API client retries a transient failure for up to 15 s) and loads
# the sections already saved. Not bounded by codecheck; an allowance.
START_S = 30
# After the job timeout: in-flight sections are marked failed and saved
# (each save is bounded by CODECHECK_LEASE, default 30 s, app/sections.go),
# then the job is finished (bounded by writeTimeout, 10 s, app/attempt.go).
LEASE_S = 30
WRITE_S = 10
RECORD_S = LEASE_S + WRITE_S
# Direct mode only: `codecheck work` waits up to this long for the job's
# webhook before exiting (webhookFlushTimeout, cmd/codecheck/work.go). In
# worker-API mode the server sends the webhook and `work` has no outbox.
WEBHOOK_FLUSH_S = 25
# Direct mode only: `codecheck report` reads the summary from the database
# after the run. It is one read; when it does not answer in time the summary
# says "unknown" (the job itself is already finished).
REPORT_TIMEOUT_S = 20
# On cancellation codecheck gets SIGTERM, then SIGKILL after a grace period:
# its drain (CODECHECK_DRAIN_TIMEOUT, default 20 s), releasing the job
# (writeTimeout, 10 s), the webhook flush in direct mode, and 5 s to exit.
DRAIN_S = 20
EXIT_S = 5
# Left over for this Python wrapper, process start-up and exit, and log
# streaming.
MARGIN_S = 15


def stop_grace_s(mode: str) -> int:
    """Seconds codecheck gets between SIGTERM and SIGKILL in this mode."""
    return DRAIN_S + WRITE_S + (WEBHOOK_FLUSH_S if mode == "database" else 0) + EXIT_S


def timeout_budget(mode: str, job_timeout_s: int) -> dict:
    """The phases of one call in seconds, and the function timeout they add up to.

    A call ends one of two ways after the job clock starts: the job ends
    (at the latest at its timeout), its outcome is recorded, and in direct
    mode the webhook is flushed and the report read; or the call is
    cancelled and codecheck gets its SIGTERM grace. The function timeout
    covers the longer of the two.
    """
    direct = mode == "database"
    phases = {
        "start": START_S,
        "job": job_timeout_s,
        "record": RECORD_S,
        "webhook_flush": WEBHOOK_FLUSH_S if direct else 0,
        "report": REPORT_TIMEOUT_S if direct else 0,
        "stop_grace": stop_grace_s(mode),
        "margin": MARGIN_S,
    }
    after_job = max(phases["record"] + phases["webhook_flush"] + phases["report"], phases["stop_grace"])
    phases["function_timeout"] = phases["start"] + job_timeout_s + after_job + MARGIN_S
    return phases


_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_s(text: str):
    """Seconds in a Go duration ("270s", "4m30s", "1.5h"), or None when it is not one."""
    text = text.strip()
    if text == "0":
        return 0.0
    if not text or text[0] in "+-":
        return None
    parts = _GO_DURATION_PART.findall(text)
    if "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def deploy_settings(environ) -> dict:
    """The deploy-time settings from environ; ValueError names a bad variable.

    Returns {mode, max_containers, job_timeout_s, required_keys, budget,
    env}, where env is what the container gets so that it computes the same.
    """
    mode = (environ.get(MODE_VAR) or DEFAULT_MODE).strip().lower()
    if mode not in MODE_KEYS:
        raise ValueError(f"{MODE_VAR}={environ.get(MODE_VAR)!r}: use api (the worker API, recommended) "
                         f"or database (the secret holds DATABASE_URL)")

    raw = (environ.get(MAX_CONTAINERS_VAR) or "").strip()
    if raw == "":
        max_containers = DEFAULT_MAX_CONTAINERS
    elif raw.isdigit() and int(raw) >= 1:
        max_containers = int(raw)
    else:
        raise ValueError(f"{MAX_CONTAINERS_VAR}={raw!r}: a whole number of containers, at least 1")

    raw = (environ.get(JOB_TIMEOUT_VAR) or "").strip()
    if raw == "":
        job_timeout_s = DEFAULT_JOB_TIMEOUT_S
    else:
        seconds = float(raw) if raw.isdigit() else go_duration_s(raw)
        if seconds is None or seconds < MIN_JOB_TIMEOUT_S or seconds != int(seconds):
            raise ValueError(f"{JOB_TIMEOUT_VAR}={raw!r}: whole seconds, at least {MIN_JOB_TIMEOUT_S} "
                             f"(e.g. 300 or 5m)")
        job_timeout_s = int(seconds)

    extra = [k for k in re.split(r"[\s,]+", environ.get(REQUIRED_KEYS_VAR) or "") if k]
    bad = [k for k in extra if not _KEY.match(k)]
    if bad:
        raise ValueError(f"{REQUIRED_KEYS_VAR}: {', '.join(bad)} is not a secret key name "
                         f"(letters, digits and underscores, not starting with a digit)")
    required_keys = [MODE_KEYS[mode]]
    for key in extra:
        if key not in required_keys:
            required_keys.append(key)

    budget = timeout_budget(mode, job_timeout_s)
    if budget["function_timeout"] > MODAL_MAX_TIMEOUT_S:
        raise ValueError(f"{JOB_TIMEOUT_VAR}={raw!r}: the function timeout would be "
                         f"{budget['function_timeout']}s, over Modal's limit of {MODAL_MAX_TIMEOUT_S}s")

    env = {
        MODE_VAR: mode,
        MAX_CONTAINERS_VAR: str(max_containers),
        JOB_TIMEOUT_VAR: str(job_timeout_s),
        REQUIRED_KEYS_VAR: ",".join(extra),
    }
    return {"mode": mode, "max_containers": max_containers, "job_timeout_s": job_timeout_s,
            "required_keys": required_keys, "budget": budget, "env": env}


SETTINGS = deploy_settings(os.environ)
WORKER_MODE = SETTINGS["mode"]
MAX_CONTAINERS = SETTINGS["max_containers"]
JOB_TIMEOUT_S = SETTINGS["job_timeout_s"]
JOB_TIMEOUT = f"{JOB_TIMEOUT_S}s"
FUNCTION_TIMEOUT_S = SETTINGS["budget"]["function_timeout"]
STOP_GRACE_S = SETTINGS["budget"]["stop_grace"]

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
    """True when this function was deployed in worker-API mode."""
    return WORKER_MODE == "api"


def _job_timeout(secret_value: str):
    """codecheck's job timeout in the container, and a line to log or None.

    The deployment's (JOB_TIMEOUT) unless the secret sets a shorter one; a
    longer one would not fit the function timeout, so it is cut down to the
    deployment's. A value that is not a duration is left to codecheck, which
    exits 2 naming the variable.
    """
    if not secret_value.strip():
        return JOB_TIMEOUT, None
    seconds = go_duration_s(secret_value)
    if seconds is None or seconds <= JOB_TIMEOUT_S:
        return secret_value, None
    return JOB_TIMEOUT, (
        f"{JOB_TIMEOUT_ENV}={secret_value.strip()} in the {SECRET_NAME} secret does not fit the function "
        f"timeout ({FUNCTION_TIMEOUT_S}s); using {JOB_TIMEOUT}. To allow longer jobs, redeploy with "
        f"{JOB_TIMEOUT_VAR}={int(seconds)}"
    )


def _child_env(worker_token: str) -> dict:
    """The environment codecheck runs with: the secret's, plus the job's token in worker-API mode.

    The token goes into this copy only: not into this process's environment,
    not onto the command line, not into any log line or return value.
    """
    env = dict(os.environ)
    env[JOB_TIMEOUT_ENV], _ = _job_timeout(env.get(JOB_TIMEOUT_ENV, ""))
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
        # Direct-database mode: codecheck ignores the token; do not hand it
        # on. Nor CODECHECK_API_URL, which would make codecheck use the
        # worker API (and ask for the token) against the deployed mode.
        env.pop(TOKEN_VAR, None)
        env.pop(API_URL_VAR, None)
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
            timeout=REPORT_TIMEOUT_S,
            check=True,
        ).stdout
        job = json.loads(out).get("job", {})
        return {"status": job.get("status", "unknown"), "progress": job.get("progress", "")}
    except (OSError, subprocess.SubprocessError, ValueError, AttributeError) as exc:
        _log(f"job {job_id}: could not read the report: {type(exc).__name__}")
        return {"status": "unknown", "progress": ""}


@app.function(
    image=image,
    # required_keys: Modal checks that the secret holds these keys when the
    # app is deployed, so a secret without the mode's key fails the deploy.
    secrets=[modal.Secret.from_name(SECRET_NAME, required_keys=SETTINGS["required_keys"])],
    # The deploy-time settings, so that importing this file in the container
    # computes the same mode, job timeout and grace as at deploy time.
    env=SETTINGS["env"],
    timeout=FUNCTION_TIMEOUT_S,
    # Calls beyond this many running containers wait in Modal's queue.
    max_containers=MAX_CONTAINERS,
)
def process_research_job(job_id: str, address: str, llm_provider: str, worker_token: str = "") -> dict:
    """Runs one codecheck job to the end; returns {job_id, status, progress, exit_code}.

    address and llm_provider are what the server stored with the job; the
    worker reads the job itself, so they are only logged. worker_token is the
    job's worker token ("" when serve has no CODECHECK_WORKER_SECRET).

    Worker-API mode (deployed with CODECHECK_MODAL_WORKER_MODE=api, the
    default): CODECHECK_API_URL comes from the secret; worker_token is
    required and reaches codecheck only as CODECHECK_WORKER_TOKEN in its
    environment; codecheck gets no DATABASE_URL. status and progress come
    from the result line `codecheck work` prints when it ends ("job ID
    completed (13/13)"); when it printed none (stopped before the end, exit
    code 3, or an error) they are "unknown" and "": this container cannot
    read the job, so ask the server (GET /jobs/{id}).

    Direct-database mode (CODECHECK_MODAL_WORKER_MODE=database): DATABASE_URL
    must be the server's postgres:// URL; worker_token is not used, nor
    CODECHECK_API_URL; status and progress come from `codecheck report`, read
    from the database after the run.
    """
    api = _api_mode()
    if api:
        if not os.environ.get(API_URL_VAR, "").strip():
            # The key is there (required_keys) but empty, or the secret was
            # changed after the deploy.
            raise RuntimeError(
                f"this function was deployed in worker-API mode ({MODE_VAR}=api), so the {SECRET_NAME} "
                f"secret needs {API_URL_VAR}, the servers' base URL as a container reaches it, and it is "
                f"empty or missing; or redeploy with {MODE_VAR}=database to use DATABASE_URL"
            )
        if not worker_token.strip():
            # Without it codecheck would exit 2 naming CODECHECK_WORKER_TOKEN;
            # say here why the token is missing.
            raise RuntimeError(
                f"this function was deployed in worker-API mode ({MODE_VAR}=api), so the call needs "
                f"the job's worker token as its fourth argument, and it is empty: start codecheck serve "
                f"with CODECHECK_WORKER_SECRET (the same on every replica), or redeploy with "
                f"{MODE_VAR}=database and DATABASE_URL in the {SECRET_NAME} secret"
            )
        present = [name for name in DATABASE_VARS if os.environ.get(name)]
        if present:
            _log(
                f"{', '.join(present)} in the {SECRET_NAME} secret is not passed to codecheck "
                f"in worker-API mode; remove it from the secret so containers hold no database credentials"
            )
    else:
        if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            # Without it codecheck would fall back to an empty SQLite file in
            # the container and report the job as not found.
            raise RuntimeError(
                f"DATABASE_URL must be set to the server's postgres:// URL in the {SECRET_NAME} secret: "
                f"this function was deployed in direct-database mode ({MODE_VAR}=database); "
                f"redeploy with {MODE_VAR}=api to use the worker API instead"
            )
        if os.environ.get(API_URL_VAR, "").strip():
            _log(f"{API_URL_VAR} in the {SECRET_NAME} secret is not passed to codecheck: this function "
                 f"was deployed in direct-database mode ({MODE_VAR}=database)")
        if worker_token:
            _log(f"job {job_id}: the hand-off carries a worker token, which direct-database mode does not "
                 f"use; using DATABASE_URL")
    _, note = _job_timeout(os.environ.get(JOB_TIMEOUT_ENV, ""))
    if note:
        _log(note)
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
