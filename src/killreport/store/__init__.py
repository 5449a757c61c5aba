"""killreport.store."""
