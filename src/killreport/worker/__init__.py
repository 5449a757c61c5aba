"""killreport.worker."""
