"""Readers of each input format. Each yields canonical records, or ``Rejected`` for a bad one."""
