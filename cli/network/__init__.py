"""`praevnet network`: create, join and operate networks, and peer them with other networks."""
