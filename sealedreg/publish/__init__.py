"""Where DNS is touched: discovery of organisations' keys (and, next, DNSLink)."""
