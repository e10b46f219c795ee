"""Venue-neutral building blocks of the live venue adapters (not a venue).

Every live venue package (``adapters.<venue>``) may import these modules; they never import a
venue, so the rule "an adapter never imports another venue" holds while the logic that is
truly the same across venues (order tracking, status publishing, task management, request
signing helpers) has one implementation.
"""
