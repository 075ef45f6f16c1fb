"""Job progress events: typed messages and an append-only, replayable log per job."""
