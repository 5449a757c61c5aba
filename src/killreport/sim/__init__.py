"""killreport.sim."""
