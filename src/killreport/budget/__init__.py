"""The ESI budget every worker shares: reserve before sending, settle with what ESI reported."""
