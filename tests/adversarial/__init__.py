"""Adversarial submissions for the toy course (see catalogue.py) and the course builder."""
