"""The sending dashboard in the admin: figures per day from the send log and
its events (:mod:`.stats`), drawn as server-rendered SVG (:mod:`.charts`),
with today's quota from ``GetSendQuota`` (:mod:`.quota`), on one admin page
(:mod:`.views`)."""
