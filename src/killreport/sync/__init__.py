"""killreport.sync."""
