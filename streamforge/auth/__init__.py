"""Accounts: users and their passwords, API tokens. No web code here (see ``web/``)."""
