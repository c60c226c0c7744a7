"""Authoring: ``source/`` → ``release/`` → a publication. Reference regions of ``lib``
(``regions``), its student edition (``studentlib``), the release (``release``), the leak
check (``leaks``), what students get (``publish``) and the catalogue of submissions that
``course check`` grades (``catalogue``)."""
