-- Hand-off reservations: a dispatcher reserves a job's hand-off (owner and
-- deadline) before it calls the executor, so that however many replicas
-- dispatch, each attempt is handed off once; a reservation whose owner died
-- lapses at its deadline. A failed hand-off's backoff is a reservation
-- without an owner. handoffs counts the hand-offs of the next attempt that
-- no worker claimed.
ALTER TABLE jobs ADD COLUMN handoff_owner text NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN handoff_until {{time}};
ALTER TABLE jobs ADD COLUMN handoffs integer NOT NULL DEFAULT 0;
