"""The bottom of every AWS call: HTTP, and nothing above it.

``endpoint``: one URL over a keep-alive ``requests`` session, signed or
plain, with the environment's proxies and CA bundle. ``adapter``: the
connections that record whether any byte of a request was written.
``failures``: a failed request is *not sent* or its *outcome is unknown*.
``retry``: back-off with full jitter and the retry rules. ``plain``: the
small unsigned calls to link-local credential services.

Takes credentials and options as plain values; imports no settings, models,
credentials chain or backend. Import the modules themselves: this package
imports nothing, so that ``plain`` (for the credentials chain) does not bring
in ``requests`` before a call is made.
"""
