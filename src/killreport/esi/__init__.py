"""killreport.esi."""
