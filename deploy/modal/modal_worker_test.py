"""Checks modal_worker.py's process handling without Modal.

The `modal` package is replaced by a stub that records the declarations, and
the codecheck binary by a shell script that records its arguments and
environment, so this runs with the standard library only. Both worker modes
are covered: worker API (the token reaches codecheck only through its
environment, no DATABASE_URL) and direct database (DATABASE_URL required).
So are the deploy-time declarations: the secret's required_keys per mode,
max_containers, and the timeout budget (whose Go-side numbers are read from
the Go source, so that a change there fails here).

    python3 deploy/modal/modal_worker_test.py

It cannot check that Modal accepts the image, secret or function
declarations: only a real `modal deploy` does.
"""

import importlib.util
import inspect
import io
import os
import re
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
        # The signature of modal.Secret.from_name in modal 1.5.4
        # (py/modal/secret.py): an unknown keyword fails here as it would there.
        @staticmethod
        def from_name(name, *, environment_name=None, required_keys=[], client=None):
            return ("secret", name, tuple(required_keys))

    class App:
        def __init__(self, name):
            self.name = name
            self.functions = {}

        # Keyword names of App.function in modal 1.5.4 (py/modal/app.py), the
        # ones this deployment could use: a misspelt one fails here.
        def function(self, *, image=None, env=None, secrets=None, cpu=None, memory=None,
                     min_containers=None, max_containers=None, buffer_containers=None,
                     scaledown_window=None, retries=None, timeout=300, startup_timeout=None,
                     nonpreemptible=False, single_use_containers=False):
            options = {k: v for k, v in locals().items() if k != "self"}

            def register(fn):
                fn.modal_options = options
                self.functions[fn.__name__] = fn
                return fn

            return register

        def local_entrypoint(self):
            return lambda fn: fn

    mod.Image, mod.Secret, mod.App = Image, Secret, App
    return mod


# The deploy-time variables modal_worker.py reads when it is imported.
DEPLOY_VARS = ("CODECHECK_MODAL_WORKER_MODE", "CODECHECK_MODAL_MAX_CONTAINERS", "CODECHECK_MODAL_JOB_TIMEOUT",
               "CODECHECK_MODAL_REQUIRED_KEYS")


def _load_worker(**deploy_env):
    """Imports modal_worker.py as `modal deploy` would, with deploy_env as the deploy-time variables."""
    for name in DEPLOY_VARS:
        os.environ.pop(name, None)
    os.environ.update(deploy_env)
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
  if [ -n "$REPORT_SLEEP" ]; then sleep "$REPORT_SLEEP"; fi
  echo '{"job": {"id": "'"$3"'", "status": "completed", "progress": "13/13"}, "sections": []}' ;;
esac
"""

TOKEN = "cwt1.job-1.4102444800.c2lnbmF0dXJlLW5vdC1mb3ItbG9ncw"
API_URL = "https://codecheck.example.com"
DB_URL = "postgres://u:dbpass@db.example/codecheck"

# Variables these tests set; cleared before and after each test.
_VARS = ("WORK_EXIT", "WORK_BLOCK", "WORK_RESULT", "REPORT_SLEEP", "CALLS", "DATABASE_URL",
         "CODECHECK_LISTEN_DATABASE_URL", "CODECHECK_JOB_TIMEOUT", "CODECHECK_API_URL", "CODECHECK_WORKER_TOKEN",
         "CODECHECK_WORKER_SECRET") + DEPLOY_VARS

REPO = HERE.parent.parent


class ModalWorkerTest(unittest.TestCase):
    def setUp(self):
        for name in _VARS:
            os.environ.pop(name, None)
        self.dir = tempfile.TemporaryDirectory()
        self.binary = Path(self.dir.name) / "codecheck"
        self.binary.write_text(FAKE_CODECHECK)
        self.binary.chmod(self.binary.stat().st_mode | stat.S_IEXEC)
        # Most tests below run in direct-database mode; use_api() redeploys.
        self.deploy(CODECHECK_MODAL_WORKER_MODE="database")
        os.environ["DATABASE_URL"] = "postgres://u@db.example/codecheck"
        self.calls = Path(self.dir.name) / "calls"
        os.environ["CALLS"] = str(self.calls)

    def tearDown(self):
        self.dir.cleanup()
        for name in _VARS:
            os.environ.pop(name, None)

    def deploy(self, **deploy_env):
        """Loads modal_worker.py with these deploy-time variables, running the fake binary."""
        self.worker = _load_worker(**deploy_env)
        self.worker.BINARY = str(self.binary)
        for name in DEPLOY_VARS:
            os.environ.pop(name, None)
        return self.worker

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
        self.deploy(CODECHECK_MODAL_WORKER_MODE="api")
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
        self.assertEqual(fn.modal_options["timeout"], 430, "direct mode, 300s jobs: see the budget table")
        self.assertEqual(fn.modal_options["max_containers"], 50)
        self.assertEqual(fn.modal_options["secrets"], [("secret", "code-check-secrets", ("DATABASE_URL",))])
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

    # Deploy-time declarations: what `modal deploy` sends to Modal.

    def declared(self, **deploy_env):
        """The options process_research_job is declared with for these deploy-time variables."""
        return self.deploy(**deploy_env).app.functions["process_research_job"].modal_options

    def test_default_mode_is_the_worker_api(self):
        options = self.declared()
        self.assertEqual(self.worker.WORKER_MODE, "api")
        self.assertEqual(options["secrets"], [("secret", "code-check-secrets", ("CODECHECK_API_URL",))])

    def test_required_keys_per_mode(self):
        for mode, key in (("api", "CODECHECK_API_URL"), ("database", "DATABASE_URL"), (" API ", "CODECHECK_API_URL")):
            options = self.declared(CODECHECK_MODAL_WORKER_MODE=mode)
            self.assertEqual(options["secrets"], [("secret", "code-check-secrets", (key,))], mode)

    def test_more_required_keys_at_deploy(self):
        options = self.declared(CODECHECK_MODAL_WORKER_MODE="api",
                                CODECHECK_MODAL_REQUIRED_KEYS="PERPLEXITY_API_KEY, OPENAI_API_KEY CODECHECK_API_URL")
        self.assertEqual(options["secrets"], [("secret", "code-check-secrets",
                                               ("CODECHECK_API_URL", "PERPLEXITY_API_KEY", "OPENAI_API_KEY"))])

    def test_bad_deploy_settings_fail_the_deploy_naming_the_variable(self):
        for name, value in (("CODECHECK_MODAL_WORKER_MODE", "direct"),
                            ("CODECHECK_MODAL_MAX_CONTAINERS", "0"),
                            ("CODECHECK_MODAL_MAX_CONTAINERS", "-3"),
                            ("CODECHECK_MODAL_MAX_CONTAINERS", "ten"),
                            ("CODECHECK_MODAL_JOB_TIMEOUT", "10s"),
                            ("CODECHECK_MODAL_JOB_TIMEOUT", "4.5m30.2s"),
                            ("CODECHECK_MODAL_JOB_TIMEOUT", "forever"),
                            ("CODECHECK_MODAL_JOB_TIMEOUT", "25h"),
                            ("CODECHECK_MODAL_REQUIRED_KEYS", "OPENAI-API-KEY")):
            with self.assertRaises(ValueError, msg=f"{name}={value}") as ctx:
                _load_worker(**{name: value})
            self.assertIn(name, str(ctx.exception))

    def test_max_containers_default_and_override(self):
        self.assertEqual(self.declared()["max_containers"], 50)
        self.assertEqual(self.declared(CODECHECK_MODAL_MAX_CONTAINERS="7")["max_containers"], 7)
        self.assertEqual(self.declared(CODECHECK_MODAL_MAX_CONTAINERS=" 200 ")["max_containers"], 200)

    def test_the_container_computes_what_was_deployed(self):
        # Inside the container modal_worker.py is imported again, without
        # the deploy shell's variables: env= carries them.
        options = self.declared(CODECHECK_MODAL_WORKER_MODE="database", CODECHECK_MODAL_MAX_CONTAINERS="12",
                                CODECHECK_MODAL_JOB_TIMEOUT="10m", CODECHECK_MODAL_REQUIRED_KEYS="GEMINI_API_KEY")
        deployed = dict(options, image=options["image"].steps)
        container = self.deploy(**options["env"])
        again = container.app.functions["process_research_job"].modal_options
        self.assertEqual(dict(again, image=again["image"].steps), deployed)
        self.assertEqual((container.WORKER_MODE, container.JOB_TIMEOUT, container.FUNCTION_TIMEOUT_S,
                          container.STOP_GRACE_S), ("database", "600s", 730, 60))

    def test_job_timeout_at_deploy_sets_the_function_timeout(self):
        for value, job_s in (("600", 600), ("10m", 600), ("1h", 3600), ("4m30s", 270)):
            options = self.declared(CODECHECK_MODAL_WORKER_MODE="api", CODECHECK_MODAL_JOB_TIMEOUT=value)
            self.assertEqual(self.worker.JOB_TIMEOUT, f"{job_s}s", value)
            self.assertEqual(options["timeout"], job_s + 85, value)

    def test_timeout_budget_table(self):
        # The numbers in deploy/modal/README.md's table.
        w = self.worker
        self.assertEqual(w.timeout_budget("api", 300), {
            "start": 30, "job": 300, "record": 40, "webhook_flush": 0, "report": 0, "stop_grace": 35,
            "margin": 15, "function_timeout": 385})
        self.assertEqual(w.timeout_budget("database", 300), {
            "start": 30, "job": 300, "record": 40, "webhook_flush": 25, "report": 20, "stop_grace": 60,
            "margin": 15, "function_timeout": 430})
        self.assertEqual(self.declared(CODECHECK_MODAL_WORKER_MODE="api")["timeout"], 385)
        self.assertEqual(self.worker.STOP_GRACE_S, 35)

    def test_timeout_budget_sums_within_the_function_timeout(self):
        w = self.worker
        for mode in ("api", "database"):
            for job_s in (30, 270, 300, 600, 3600, 86000):
                b = w.timeout_budget(mode, job_s)
                finished = b["start"] + b["job"] + b["record"] + b["webhook_flush"] + b["report"]
                cancelled = b["start"] + b["job"] + b["stop_grace"]
                for path, used in (("job ends", finished), ("call cancelled", cancelled)):
                    self.assertLessEqual(used + b["margin"], b["function_timeout"], (mode, job_s, path))
                self.assertGreaterEqual(b["margin"], 10)
                if mode == "api":
                    self.assertEqual((b["webhook_flush"], b["report"]), (0, 0), "neither runs in worker-API mode")

    def test_timeout_budget_matches_the_go_source(self):
        # The phases codecheck bounds in Go; the budget above assumes them.
        def go_seconds(path, pattern):
            text = (REPO / path).read_text()
            m = re.search(pattern, text)
            self.assertIsNotNone(m, f"{pattern} not found in {path}: update modal_worker.py's budget")
            return int(m.group(1))

        w = self.worker
        self.assertEqual(go_seconds("cmd/codecheck/work.go", r"webhookFlushTimeout = (\d+) \* time.Second"),
                         w.WEBHOOK_FLUSH_S)
        self.assertEqual(go_seconds("app/attempt.go", r"writeTimeout = (\d+) \* time.Second"), w.WRITE_S)
        self.assertEqual(go_seconds("app/defaults.go", r"DefaultLease = (\d+) \* time.Second"), w.LEASE_S)
        self.assertEqual(go_seconds("app/defaults.go", r"DefaultJobTimeout = (\d+) \* time.Second"),
                         w.DEFAULT_JOB_TIMEOUT_S)
        self.assertEqual(go_seconds("cmd/codecheck/config.go", r'Name: "CODECHECK_DRAIN_TIMEOUT", Default: "(\d+)s"'),
                         w.DRAIN_S)
        retry = go_seconds("adapters/store/workerapi/client.go", r"DefaultRetryWithin = (\d+) \* time.Second")
        self.assertGreater(w.START_S, retry, "the start allowance covers the claim's retries")

    def test_go_durations(self):
        parse = self.worker.go_duration_s
        for text, want in (("270s", 270), ("5m", 300), ("4m30s", 270), ("1.5h", 5400), ("0", 0), ("500ms", 0.5)):
            self.assertAlmostEqual(parse(text), want, msg=text)
        for text in ("", "5", "-5s", "5 s", "soon", "5x"):
            self.assertIsNone(parse(text), text)

    def test_completed_job_streams_logs_and_returns_summary(self):
        summary, out = self.run_job()
        self.assertEqual(summary, {"job_id": "job-1", "exit_code": 0, "status": "completed", "progress": "13/13"})
        self.assertIn("msg=claimed job_id=job-1 timeout=300s", out)
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
        self.assertIn("which direct-database mode does not use; using DATABASE_URL", out)

    def test_direct_mode_does_not_pass_the_api_url(self):
        # Deployed for DATABASE_URL: a CODECHECK_API_URL left in the secret
        # would make codecheck use the worker API and ask for a token.
        os.environ["CODECHECK_API_URL"] = API_URL
        summary, out = self.run_job(TOKEN)
        self.assertEqual(summary["status"], "completed")
        (_, work_env), _ = self.recorded()
        self.assertNotIn("CODECHECK_API_URL", work_env)
        self.assertEqual(work_env["DATABASE_URL"], "postgres://u@db.example/codecheck")
        self.assertIn("CODECHECK_API_URL in the code-check-secrets secret is not passed to codecheck", out)
        self.assertIn("via direct database", out)

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

    def test_api_mode_empty_api_url_fails_the_call_before_codecheck_starts(self):
        self.use_api(with_db_url=True)
        os.environ["CODECHECK_API_URL"] = " "
        with self.assertRaises(RuntimeError) as ctx, redirect_stdout(io.StringIO()):
            self.worker.process_research_job("job-1", "1 Main St", "perplexity", TOKEN)
        message = str(ctx.exception)
        self.assertIn("CODECHECK_API_URL", message)
        self.assertIn("CODECHECK_MODAL_WORKER_MODE=database", message)
        self.assertNotIn(TOKEN, message)
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

    def test_a_shorter_job_timeout_from_the_secret_wins(self):
        os.environ["CODECHECK_JOB_TIMEOUT"] = "100s"
        _, out = self.run_job()
        self.assertIn("timeout=100s", out)
        self.assertNotIn("does not fit", out)

    def test_a_longer_job_timeout_from_the_secret_is_cut_to_the_budget(self):
        for value in ("1h", "301s", "5m1s"):
            os.environ["CODECHECK_JOB_TIMEOUT"] = value
            _, out = self.run_job()
            self.assertIn("timeout=300s", out, value)
            self.assertIn(f"CODECHECK_JOB_TIMEOUT={value} in the code-check-secrets secret does not fit", out)
            self.assertIn("redeploy with CODECHECK_MODAL_JOB_TIMEOUT=", out)

    def test_a_job_timeout_that_is_not_a_duration_is_left_to_codecheck(self):
        # codecheck exits 2 naming the variable; nothing is guessed here.
        os.environ["CODECHECK_JOB_TIMEOUT"] = "soon"
        _, out = self.run_job()
        self.assertIn("timeout=soon", out)

    def test_slow_report_is_unknown_within_its_timeout(self):
        self.worker.REPORT_TIMEOUT_S = 1
        os.environ["REPORT_SLEEP"] = "5"
        started = time.monotonic()
        summary, out = self.run_job()
        self.assertLess(time.monotonic() - started, 4)
        self.assertEqual((summary["status"], summary["progress"]), ("unknown", ""))
        self.assertIn("could not read the report: TimeoutExpired", out)

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
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(self.worker._report("job-1"), {"status": "unknown", "progress": ""})
        self.assertIn("could not read the report: FileNotFoundError", out.getvalue())


if __name__ == "__main__":
    unittest.main()
