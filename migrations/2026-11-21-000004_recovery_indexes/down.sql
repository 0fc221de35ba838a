DROP INDEX seats_held_until;
