"""killreport.cli."""
