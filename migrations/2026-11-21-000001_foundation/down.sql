DROP TABLE pass_legs;
DROP TABLE passes;
DROP TABLE users;
DROP TABLE seats;
DROP TABLE segments;
