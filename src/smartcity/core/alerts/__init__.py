"""Rules, alerts, incidents with their SOPs, and notifications (issue 5)."""
