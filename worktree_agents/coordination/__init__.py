"""Coordination between streams while they work.

    requests   a stream asking another (or whoever owns a path) for a change
    watch      `wta watch`: alerts on sessions, zone violations, conflicts, requests and checks
"""
