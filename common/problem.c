/*
 * problem: the problem-title table (see problem.h).
 */
#include "problem.h"

static const struct problem_status problem_table[] = {
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 409, "Conflict" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" },
	{ 428, "Precondition Required" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

const struct problem_status *
problem_statuses(size_t *n)
{
	*n = sizeof(problem_table) / sizeof(problem_table[0]);
	return (problem_table);
}

const char *
problem_title(int status)
{
	size_t	i;

	for (i = 0; i < sizeof(problem_table) / sizeof(problem_table[0]); i++)
		if (problem_table[i].status == status)
			return (problem_table[i].title);
	return ("Error");
}
