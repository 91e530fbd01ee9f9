"""Meetings: agents and their calendars, free slots, routing, booking and the meeting card.

The road of one booking is in ``docs/meetings.md``; ``plugin`` registers it all with chinwag.
"""
