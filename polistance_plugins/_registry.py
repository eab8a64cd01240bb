"""Inspect AI entry point: importing this module registers the polistance tasks."""

# ruff: noqa: F401
from polistance_plugins.tasks.elaboration import elaboration
from polistance_plugins.tasks.ideology_score import ideology_score
from polistance_plugins.tasks.questionnaire import questionnaire
from polistance_plugins.tasks.compass import compass
from polistance_plugins.tasks.compass_unforced import compass_unforced
from polistance_plugins.tasks.evenhandedness import evenhandedness
