/*
 * libFuzzer target: query_parse() on any byte string. It must never
 * crash, leak or accept what it cannot represent: on success every value
 * is a string or an array of strings; on failure it says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/query.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t		*q, *v, *x;
	const char	*reason, *k;
	char		*s;
	size_t		 i;

	if ((s = malloc(size + 1)) == NULL)
		return (0);
	memcpy(s, data, size);
	s[size] = '\0';
	if (query_parse(s, &q, &reason) == 0) {
		json_object_foreach(q, k, v) {
			if (json_is_array(v)) {
				json_array_foreach(v, i, x)
					if (!json_is_string(x))
						abort();
			} else if (!json_is_string(v))
				abort();
		}
		json_decref(q);
	} else if (q != NULL || reason == NULL)
		abort();
	free(s);
	return (0);
}
