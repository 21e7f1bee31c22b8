"""The REST routes of DESIGN section 9, one module per resource; thin: parse, call the domain, shape."""
