"""Key rollover: the pure planner, the state file, key slots, deploys, next keys, ACME hooks."""
