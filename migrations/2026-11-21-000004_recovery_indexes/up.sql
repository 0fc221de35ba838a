-- Recovery looks for holds past their deadline twice a second; without this it scans every seat.
CREATE INDEX seats_held_until ON seats (held_until) WHERE status = 'held';
