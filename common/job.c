/*
 * job: job kinds known to this build.
 */
#include <string.h>

#include "job.h"

int
job_kind_known(const char *kind)
{
	static const char *kinds[] = { JOB_KIND_PING, JOB_KIND_MATCH,
	    JOB_KIND_EXPIRE, JOB_KIND_REPORT, NULL };
	int	i;

	for (i = 0; kind != NULL && kinds[i] != NULL; i++) {
		if (strcmp(kinds[i], kind) == 0)
			return (1);
	}
	return (0);
}
