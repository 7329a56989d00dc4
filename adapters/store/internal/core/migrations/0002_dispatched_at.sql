-- When the dispatcher last handed the job to an executor, so that a hand-off
-- no worker ever claimed (a container that died before claiming) can be
-- made again.
ALTER TABLE jobs ADD COLUMN dispatched_at {{time}};
