"""Everything ``nbgrader_config.py`` names: the Autograde steps (``pipeline``, ``execute``,
``sanitize``, ``flags``), the feedback page (``feedback``, ``templates/``) and the export
plugin (``export``). nbgrader's own commands and formgrader use these, as ``course grade``
does."""
