"""Checks modal_worker.py's process handling without Modal.

The `modal` package is replaced by a stub that records the declarations, and
the codecheck binary by a shell script, so this runs with the standard
library only:

    python3 deploy/modal/modal_worker_test.py

It cannot check that Modal accepts the image, secret or function
declarations: only a real `modal deploy` does.
"""

import importlib.util
import io
import os
import signal
import stat
import sys
import tempfile
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
# Emulates the codecheck CLI: `work` logs and exits $WORK_EXIT;
# `report` prints a JSON report.
case "$1" in
work)
  echo "level=INFO msg=claimed job_id=$3 timeout=$CODECHECK_JOB_TIMEOUT"
  if [ -n "$WORK_BLOCK" ]; then
    trap 'echo sigterm > "$WORK_BLOCK"; exit 3' TERM
    while :; do sleep 0.05; done
  fi
  echo "level=INFO msg=done job_id=$3" >&2
  exit "${WORK_EXIT:-0}" ;;
report)
  echo '{"job": {"id": "'"$3"'", "status": "completed", "progress": "13/13"}, "sections": []}' ;;
esac
"""


class ModalWorkerTest(unittest.TestCase):
    def setUp(self):
        self.worker = _load_worker()
        self.dir = tempfile.TemporaryDirectory()
        binary = Path(self.dir.name) / "codecheck"
        binary.write_text(FAKE_CODECHECK)
        binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
        self.worker.BINARY = str(binary)
        os.environ.pop("WORK_EXIT", None)
        os.environ.pop("WORK_BLOCK", None)
        os.environ["DATABASE_URL"] = "postgres://u@db.example/codecheck"
        os.environ.pop("CODECHECK_JOB_TIMEOUT", None)

    def tearDown(self):
        self.dir.cleanup()
        os.environ.pop("DATABASE_URL", None)

    def run_job(self):
        out = io.StringIO()
        with redirect_stdout(out):
            summary = self.worker.process_research_job("job-1", "1 Main St, Springfield", "perplexity")
        return summary, out.getvalue()

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

    def test_completed_job_streams_logs_and_returns_summary(self):
        summary, out = self.run_job()
        self.assertEqual(summary, {"job_id": "job-1", "exit_code": 0, "status": "completed", "progress": "13/13"})
        self.assertIn("msg=claimed job_id=job-1 timeout=270s", out)
        self.assertIn("msg=done job_id=job-1", out, "stderr is streamed too")

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

    def test_job_timeout_from_the_secret_wins(self):
        os.environ["CODECHECK_JOB_TIMEOUT"] = "100s"
        try:
            _, out = self.run_job()
        finally:
            os.environ.pop("CODECHECK_JOB_TIMEOUT")
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
        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            with self.assertRaises(Cancelled), redirect_stdout(io.StringIO()):
                self.worker.process_research_job("job-1", "1 Main St", "perplexity")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        self.assertEqual(marker.read_text().strip(), "sigterm")

    def test_unreadable_report_is_unknown(self):
        self.worker.BINARY = "/nonexistent/codecheck"
        self.assertEqual(self.worker._report("job-1"), {"status": "unknown", "progress": ""})


if __name__ == "__main__":
    unittest.main()
