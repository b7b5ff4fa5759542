"""Ingest: read contacts from files and sources into one customer-centric store, cleaned."""
