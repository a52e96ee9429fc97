"""Tap for Insightly CRM."""
