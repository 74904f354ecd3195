-- 0007 problem titles: the title of every problem status, mirrored from
-- common/problem.c by `concord-admin migrate` (like need_taxonomy), so
-- the database's problems and the API's own carry the same titles.
CREATE TABLE problem_titles (
	status	integer PRIMARY KEY CHECK (status BETWEEN 400 AND 599),
	title	text NOT NULL CHECK (length(title) BETWEEN 1 AND 100)
);
