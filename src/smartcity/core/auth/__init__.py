"""Accounts, roles, departments, tokens, API keys and the audit log (one policy layer)."""
