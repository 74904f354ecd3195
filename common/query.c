/*
 * query: parse a request's query string (see query.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

static int
query_hex(int ch)
{
	return (isdigit(ch) ? ch - '0' : tolower(ch) - 'a' + 10);
}

int
query_urldecode(char *s)
{
	char	*in = s, *out = s;
	int	 v;

	while (*in != '\0') {
		if (*in == '+') {
			*out++ = ' ';
			in++;
		} else if (*in == '%') {
			if (!isxdigit((unsigned char)in[1]) ||
			    !isxdigit((unsigned char)in[2]))
				return (-1);
			v = query_hex((unsigned char)in[1]) * 16 +
			    query_hex((unsigned char)in[2]);
			if (v == 0)
				return (-1);
			*out++ = (char)v;
			in += 3;
		} else
			*out++ = *in++;
	}
	*out = '\0';
	return (0);
}

int
query_parse(const char *qs, json_t **out, const char **reason)
{
	json_t	*query, *prev, *val, *arr, *name;
	char	*copy = NULL, *item, *save = NULL, *eq;
	int	 n = 0, rc = -1;

	*out = NULL;
	*reason = NULL;
	if ((query = json_object()) == NULL) {
		*reason = "Out of memory.";
		return (-1);
	}
	if (qs == NULL || *qs == '\0') {
		*out = query;
		return (0);
	}
	if ((copy = strdup(qs)) == NULL) {
		*reason = "Out of memory.";
		goto out;
	}
	for (item = strtok_r(copy, "&", &save); item != NULL;
	    item = strtok_r(NULL, "&", &save)) {
		if (++n > QUERY_MAX_PARAMS) {
			*reason = "Too many query parameters.";
			goto out;
		}
		if ((eq = strchr(item, '=')) != NULL)
			*eq++ = '\0';
		else
			eq = item + strlen(item);
		if (query_urldecode(item) == -1 || query_urldecode(eq) == -1 ||
		    (name = json_string(item)) == NULL) {
			*reason = "The query string is not valid UTF-8 text "
			    "with %XX escapes.";
			goto out;
		}
		json_decref(name);
		if ((val = json_string(eq)) == NULL) {
			*reason = "The query string is not valid UTF-8 text "
			    "with %XX escapes.";
			goto out;
		}
		if ((prev = json_object_get(query, item)) == NULL) {
			json_object_set_new(query, item, val);
		} else if (json_is_array(prev)) {
			json_array_append_new(prev, val);
		} else {
			arr = json_array();
			json_array_append(arr, prev);
			json_array_append_new(arr, val);
			json_object_set_new(query, item, arr);
		}
	}
	rc = 0;
out:
	free(copy);
	if (rc == 0)
		*out = query;
	else
		json_decref(query);
	return (rc);
}
