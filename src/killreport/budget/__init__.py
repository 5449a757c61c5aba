"""killreport.budget."""
