"""Grading one submission (``one``), then many (``batch``): the course root opened for
grading (``course``), jobs as plain data (``bundle``), where they run (``workers``), and
recording the results (``record``, ``gradebook``, ``lock``)."""
