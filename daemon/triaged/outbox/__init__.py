"""Delivers recorded notifications: claim, send, mark sent / retry / dead."""
