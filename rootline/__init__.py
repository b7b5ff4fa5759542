"""Rootline: recurring issue themes from customer contacts, routed to owners and verified."""

__version__ = "0.1.0"
