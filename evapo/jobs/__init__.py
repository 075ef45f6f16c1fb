"""Job runners: where a submitted job's pipeline executes."""
