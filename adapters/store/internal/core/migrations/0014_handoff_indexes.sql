-- The dispatcher's two questions, each answered by its own partial index
-- instead of a walk over every pending job. Every job change wakes every
-- dispatcher, which asks first whether any job awaits a hand-off; with
-- thousands of jobs handed off and waiting for a worker (a burst on Modal,
-- or a busy local pool) that walk visited each of them on every wake-up,
-- hundreds of times a second. The second index finds the hand-offs no
-- worker claimed in time. Each leads with status, though it holds only
-- pending jobs, so that SQLite's planner, which keeps no statistics here,
-- prefers it to jobs_by_status_created.
CREATE INDEX jobs_awaiting_handoff ON jobs (status, created_at, id)
	WHERE status = 'pending' AND dispatched_attempt <= attempt;
CREATE INDEX jobs_handed_off ON jobs (status, dispatched_at, id)
	WHERE status = 'pending' AND dispatched_attempt > attempt;
