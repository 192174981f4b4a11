"""One file per network family: the prior networks and, later, one per paper."""
