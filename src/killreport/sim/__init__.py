"""The ESI simulator behind `killreport sim`: see docs/simulator.md."""
