"""``course serve``: grading submissions as they reach nbgrader's exchange.

``queue`` (the states of a submission and their transitions, in the gradebook), ``exchange``
(nbgrader's inbound folders and feedback pages), ``spool`` (the service's own copies of
submissions and results), ``loop`` (the service) and ``status`` (what ``course status``
shows).
"""
