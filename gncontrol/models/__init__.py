"""Dynamics models behind the one interface of gncontrol.dynamics."""
