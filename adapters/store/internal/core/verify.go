package core

// flagParam is a 0/1 column (jobs.verify, sections.verified,
// events.verified): SQLite has no boolean type, and both engines compare
// integers alike.
func flagParam(b bool) int {
	if b {
		return 1
	}
	return 0
}
