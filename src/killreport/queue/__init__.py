"""killreport.queue."""
