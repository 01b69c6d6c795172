"""Cần Thơ digital twin: the city's geography, sensors and scenarios, simulated."""
