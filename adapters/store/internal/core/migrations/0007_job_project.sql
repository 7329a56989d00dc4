-- The project a job researches for (domain.Project as JSON): intended use,
-- scope, stories, floor area, description. NULL when the client gave none.
ALTER TABLE jobs ADD COLUMN project {{json}};
