"""Checks modal_worker.py's process handling without Modal.

The `modal` package is replaced by a stub that records the declarations, and
the codecheck binary by a shell script that records its arguments and
environment, so this runs with the standard library only. Both worker modes
are covered: worker API (the token reaches codecheck only through its
environment, no DATABASE_URL) and direct database (DATABASE_URL required).

    python3 deploy/modal/modal_worker_test.py

It cannot check that Modal accepts the image, secret or function
declarations: only a real `modal deploy` does.
"""

import importlib.util
import inspect
import io
import os
import signal
import stat
import sys
import tempfile
import time
import types
import unittest
from contextlib import redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _stub_modal():
    """A `modal` module whose objects record how they were called."""
    mod = types.ModuleType("modal")

    class Image:
        def __init__(self, steps):
            self.steps = steps

        @classmethod
        def debian_slim(cls, *a, **kw):
            return cls([("debian_slim", a, kw)])

        def __getattr__(self, name):
            return lambda *a, **kw: Image(self.steps + [(name, a, kw)])

    class Secret:
        @staticmethod
        def from_name(name):
            return ("secret", name)

    class App:
        def __init__(self, name):
            self.name = name
            self.functions = {}

        def function(self, **kw):
            def register(fn):
                fn.modal_options = kw
                self.functions[fn.__name__] = fn
                return fn

            return register

        def local_entrypoint(self):
            return lambda fn: fn

    mod.Image, mod.Secret, mod.App = Image, Secret, App
    return mod


def _load_worker():
    sys.modules["modal"] = _stub_modal()
    spec = importlib.util.spec_from_file_location("modal_worker", HERE / "modal_worker.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    return worker


FAKE_CODECHECK = """#!/bin/sh
# Emulates the codecheck CLI: `work` logs, prints $WORK_RESULT (or the
# result line of a completed job) and exits $WORK_EXIT; `report` prints a
# JSON report. With $CALLS set, each call appends its arguments (one per
# line, then a line "--") to $CALLS and its environment to $CALLS.env.N.
if [ -n "$CALLS" ]; then
  n=$(grep -c '^--$' "$CALLS" 2>/dev/null || echo 0)
  env > "$CALLS.env.$n"
  for a in "$@"; do echo "$a"; done >> "$CALLS"
  echo "--" >> "$CALLS"
fi
case "$1" in
work)
  echo "level=INFO msg=claimed job_id=$3 timeout=$CODECHECK_JOB_TIMEOUT"
  if [ -n "$WORK_BLOCK" ]; then
    trap 'echo sigterm > "$WORK_BLOCK"; exit 3' TERM
    while :; do sleep 0.05; done
  fi
  echo "${WORK_RESULT-job $3 completed (13/13)}"
  echo "level=INFO msg=done job_id=$3" >&2
  exit "${WORK_EXIT:-0}" ;;
report)
  echo '{"job": {"id": "'"$3"'", "status": "completed", "progress": "13/13"}, "sections": []}' ;;
esac
"""

TOKEN = "cwt1.job-1.4102444800.c2lnbmF0dXJlLW5vdC1mb3ItbG9ncw"
API_URL = "https://codecheck.example.com"
DB_URL = "postgres://u:dbpass@db.example/codecheck"

# Variables these tests set; cleared before and after each test.
_VARS = ("WORK_EXIT", "WORK_BLOCK", "WORK_RESULT", "CALLS", "DATABASE_URL", "CODECHECK_LISTEN_DATABASE_URL",
         "CODECHECK_JOB_TIMEOUT", "CODECHECK_API_URL", "CODECHECK_WORKER_TOKEN", "CODECHECK_WORKER_SECRET")


class ModalWorkerTest(unittest.TestCase):
    def setUp(self):
        self.worker = _load_worker()
        self.dir = tempfile.TemporaryDirectory()
        binary = Path(self.dir.name) / "codecheck"
        binary.write_text(FAKE_CODECHECK)
        binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
        self.worker.BINARY = str(binary)
        for name in _VARS:
            os.environ.pop(name, None)
        os.environ["DATABASE_URL"] = "postgres://u@db.example/codecheck"
        self.calls = Path(self.dir.name) / "calls"
        os.environ["CALLS"] = str(self.calls)

    def tearDown(self):
        self.dir.cleanup()
        for name in _VARS:
            os.environ.pop(name, None)

    def run_job(self, *token):
        out = io.StringIO()
        with redirect_stdout(out):
            summary = self.worker.process_research_job("job-1", "1 Main St, Springfield", "perplexity", *token)
        return summary, out.getvalue()

    def recorded(self):
        """[(argv, env)] of each call of the fake binary, in order."""
        if not self.calls.exists():
            return []
        argvs, cur = [], []
        for line in self.calls.read_text().splitlines():
            if line == "--":
                argvs.append(cur)
                cur = []
            else:
                cur.append(line)
        result = []
        for i, argv in enumerate(argvs):
            env = {}
            for line in Path(f"{self.calls}.env.{i}").read_text().splitlines():
                name, sep, value = line.partition("=")
                if sep:
                    env[name] = value
            result.append((argv, env))
        return result

    def use_api(self, with_db_url=False):
        os.environ["CODECHECK_API_URL"] = API_URL
        if with_db_url:
            os.environ["DATABASE_URL"] = DB_URL
            os.environ["CODECHECK_LISTEN_DATABASE_URL"] = DB_URL
        else:
            os.environ.pop("DATABASE_URL", None)

    def test_declarations(self):
        w = self.worker
        self.assertEqual(w.app.name, "code-check-worker")
        fn = w.app.functions["process_research_job"]
        self.assertEqual(fn.modal_options["timeout"], 300)
        self.assertEqual(fn.modal_options["secrets"], [("secret", "code-check-secrets")])
        steps = [s[0] for s in fn.modal_options["image"].steps]
        self.assertIn("add_local_file", steps)
        add = next(s for s in fn.modal_options["image"].steps if s[0] == "add_local_file")
        self.assertTrue(add[1][0].endswith("dist/codecheck-linux-amd64"))
        self.assertEqual(add[1][1], "/usr/local/bin/codecheck")
        self.assertEqual(add[2], {"copy": True})

    def test_signature(self):
        params = list(inspect.signature(self.worker.process_research_job).parameters.values())
        self.assertEqual([p.name for p in params], ["job_id", "address", "llm_provider", "worker_token"])
        self.assertEqual(params[3].default, "", "three-argument spawns of an older server still work")

    def test_completed_job_streams_logs_and_returns_summary(self):
        summary, out = self.run_job()
        self.assertEqual(summary, {"job_id": "job-1", "exit_code": 0, "status": "completed", "progress": "13/13"})
        self.assertIn("msg=claimed job_id=job-1 timeout=270s", out)
        self.assertIn("msg=done job_id=job-1", out, "stderr is streamed too")
        self.assertIn("via direct database", out)

    # Direct-database mode (no CODECHECK_API_URL).

    def test_direct_mode_passes_database_url_not_the_token(self):
        os.environ["CODECHECK_WORKER_TOKEN"] = "stale-token-from-the-secret"
        summary, out = self.run_job(TOKEN)
        self.assertEqual(summary["status"], "completed")
        (work_argv, work_env), (report_argv, _) = self.recorded()
        self.assertEqual(work_argv, ["work", "--job-id", "job-1", "--wait=false"])
        self.assertEqual(report_argv, ["report", "--job-id", "job-1", "--format", "json"])
        self.assertEqual(work_env["DATABASE_URL"], "postgres://u@db.example/codecheck")
        self.assertNotIn("CODECHECK_WORKER_TOKEN", work_env, "the token is not used without CODECHECK_API_URL")
        self.assertNotIn(TOKEN, out)
        self.assertIn("CODECHECK_API_URL is not set; using DATABASE_URL", out)

    def test_direct_mode_summary_comes_from_the_report(self):
        os.environ["WORK_RESULT"] = ""
        summary, _ = self.run_job()
        self.assertEqual((summary["status"], summary["progress"]), ("completed", "13/13"))

    # Worker-API mode (CODECHECK_API_URL in the secret).

    def test_api_mode_token_reaches_codecheck_only_through_its_environment(self):
        self.use_api()
        summary, out = self.run_job(TOKEN)
        self.assertEqual(summary, {"job_id": "job-1", "exit_code": 0, "status": "completed", "progress": "13/13"})
        [(argv, env)] = self.recorded()
        self.assertEqual(argv, ["work", "--job-id", "job-1", "--wait=false"])
        self.assertFalse(any(TOKEN in a for a in argv), "the token is never on the command line")
        self.assertEqual(env["CODECHECK_WORKER_TOKEN"], TOKEN)
        self.assertEqual(env["CODECHECK_API_URL"], API_URL)
        self.assertNotIn("CODECHECK_WORKER_TOKEN", os.environ, "only the child's environment gets the token")
        self.assertNotIn(TOKEN, out, "never logged")
        self.assertNotIn(TOKEN, repr(summary), "never returned")
        self.assertIn("via worker API", out)

    def test_api_mode_gives_codecheck_no_database_url(self):
        self.use_api(with_db_url=True)
        summary, out = self.run_job(TOKEN)
        self.assertEqual(summary["status"], "completed")
        [(argv, env)] = self.recorded()
        self.assertEqual(argv[0], "work", "no `codecheck report`: it needs the database")
        self.assertNotIn("DATABASE_URL", env)
        self.assertNotIn("CODECHECK_LISTEN_DATABASE_URL", env)
        self.assertIn("remove it from the secret", out)
        self.assertNotIn("dbpass", out)

    def test_api_mode_needs_no_database_url(self):
        self.use_api()
        summary, out = self.run_job(TOKEN)
        self.assertEqual(summary["exit_code"], 0)
        self.assertNotIn("remove it from the secret", out)

    def test_api_mode_missing_token_fails_the_call_before_codecheck_starts(self):
        self.use_api(with_db_url=True)
        for token in ((), ("",), ("  ",)):
            with self.assertRaises(RuntimeError) as ctx, redirect_stdout(io.StringIO()):
                self.worker.process_research_job("job-1", "1 Main St", "perplexity", *token)
            message = str(ctx.exception)
            self.assertIn("worker token", message)
            self.assertIn("CODECHECK_WORKER_SECRET", message)
            self.assertIn("code-check-secrets", message)
            self.assertNotIn(API_URL, message)
            self.assertNotIn("dbpass", message)
        self.assertEqual(self.recorded(), [], "codecheck was not started")

    def test_api_mode_summary_from_the_result_line(self):
        self.use_api()
        for result, exit_code, want in (
            ("job job-1 failed (12/13)", "1", ("failed", "12/13")),
            ("job job-1 canceled (4/13)", "1", ("canceled", "4/13")),
            ("job job-1 is already completed; not running it again", "0", ("completed", "")),
            ("job job-1 is being run by another worker; not waiting (--wait=false)", "0", ("processing", "")),
            ("job other-job completed (13/13)", "0", ("unknown", "")),
            ("", "3", ("unknown", "")),
        ):
            os.environ["WORK_RESULT"], os.environ["WORK_EXIT"] = result, exit_code
            summary, _ = self.run_job(TOKEN)
            self.assertEqual((summary["status"], summary["progress"]), want, result)
            self.assertEqual(summary["exit_code"], int(exit_code))

    def test_api_mode_configuration_error_fails_the_call(self):
        self.use_api()
        os.environ["WORK_EXIT"] = "2"
        with self.assertRaises(RuntimeError) as ctx, redirect_stdout(io.StringIO()):
            self.worker.process_research_job("job-1", "1 Main St", "perplexity", TOKEN)
        self.assertIn("code-check-secrets", str(ctx.exception))
        self.assertNotIn(TOKEN, str(ctx.exception))

    # The local entrypoint: modal run deploy/modal/modal_worker.py --job-id ID

    def run_main(self):
        spawned = []
        self.worker.process_research_job.remote = lambda *args: spawned.append(args) or {"status": "completed"}
        out = io.StringIO()
        try:
            with redirect_stdout(out):
                self.worker.main("job-1")
        finally:
            del self.worker.process_research_job.remote
        [args] = spawned
        return args, out.getvalue()

    def test_local_entrypoint_direct_mode_passes_an_empty_token(self):
        args, _ = self.run_main()
        self.assertEqual(args, ("job-1", "", "", ""))

    def test_local_entrypoint_passes_the_token_from_the_environment(self):
        os.environ["CODECHECK_WORKER_TOKEN"] = TOKEN
        os.environ["CODECHECK_WORKER_SECRET"] = "s" * 32
        args, out = self.run_main()
        self.assertEqual(args[3], TOKEN)
        self.assertNotIn(TOKEN, out)

    def test_local_entrypoint_mints_a_token_from_the_worker_secret(self):
        secret = "0123456789abcdef0123456789abcdef-test"
        os.environ["CODECHECK_WORKER_SECRET"] = secret
        args, out = self.run_main()
        token = args[3]
        prefix, job, expiry, _ = token.split(".")
        self.assertEqual((prefix, job), ("cwt1", "job-1"))
        self.assertAlmostEqual(int(expiry), time.time() + self.worker.LOCAL_TOKEN_TTL_S, delta=5)
        self.assertNotIn(token, out)
        self.assertNotIn(secret, token)

    def test_minted_token_matches_the_go_implementation(self):
        # Minted by app.WorkerTokens (secret below, now = 1700000000, ttl =
        # 600s), and accepted by its Check.
        want = ("cwt1.0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.1700000600."
                "VUnnMkrLJ4cKtw0uyTNlaZyARTNTKCTgiPwJmxzoRQk")
        got = self.worker.mint_worker_token("0123456789abcdef0123456789abcdef-test",
                                            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 600, now=1700000000)
        self.assertEqual(got, want)

    def test_failed_job_returns_its_exit_code(self):
        os.environ["WORK_EXIT"] = "1"
        summary, _ = self.run_job()
        self.assertEqual(summary["exit_code"], 1)

    def test_configuration_error_fails_the_call(self):
        os.environ["WORK_EXIT"] = "2"
        with self.assertRaises(RuntimeError) as ctx, redirect_stdout(io.StringIO()):
            self.worker.process_research_job("job-1", "1 Main St", "perplexity")
        self.assertIn("code-check-secrets", str(ctx.exception))

    def test_missing_postgres_url_fails_the_call(self):
        for url in (None, "sqlite:codecheck.db"):
            if url is None:
                os.environ.pop("DATABASE_URL")
            else:
                os.environ["DATABASE_URL"] = url
            with self.assertRaises(RuntimeError) as ctx, redirect_stdout(io.StringIO()):
                self.worker.process_research_job("job-1", "1 Main St", "perplexity")
            self.assertIn("DATABASE_URL", str(ctx.exception))
            self.assertNotIn("sqlite:codecheck.db", str(ctx.exception))
        self.assertEqual(self.recorded(), [], "codecheck was not started")

    def test_direct_mode_still_requires_database_url_when_given_a_token(self):
        os.environ.pop("DATABASE_URL")
        with self.assertRaises(RuntimeError) as ctx, redirect_stdout(io.StringIO()):
            self.worker.process_research_job("job-1", "1 Main St", "perplexity", TOKEN)
        self.assertIn("DATABASE_URL must be set", str(ctx.exception))
        self.assertNotIn(TOKEN, str(ctx.exception))

    def test_job_timeout_from_the_secret_wins(self):
        os.environ["CODECHECK_JOB_TIMEOUT"] = "100s"
        _, out = self.run_job()
        self.assertIn("timeout=100s", out)

    def test_cancellation_stops_codecheck_with_sigterm(self):
        # Modal interrupts a cancelled input with an exception raised in the
        # function's thread; an alarm does the same here.
        class Cancelled(BaseException):
            pass

        def interrupt(signum, frame):
            raise Cancelled()

        marker = Path(self.dir.name) / "stopped"
        os.environ["WORK_BLOCK"] = str(marker)
        self.use_api()
        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            with self.assertRaises(Cancelled), redirect_stdout(io.StringIO()):
                self.worker.process_research_job("job-1", "1 Main St", "perplexity", TOKEN)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        self.assertEqual(marker.read_text().strip(), "sigterm")

    def test_unreadable_report_is_unknown(self):
        self.worker.BINARY = "/nonexistent/codecheck"
        self.assertEqual(self.worker._report("job-1"), {"status": "unknown", "progress": ""})


if __name__ == "__main__":
    unittest.main()
