/* mergepatch.c - RFC 7386 JSON Merge Patch, as the RFC's own pseudo-code:
 * an object patch merges key by key (null deletes), anything else replaces
 * the target whole. The result never shares structure with the patch, so
 * later edits of one cannot change the other. */
#include "mergepatch.h"

json_t *mergepatch_apply(json_t *target, json_t *patch)
{
	json_t *result, *value;
	const char *key;

	if (!json_is_object(patch))
		return json_deep_copy(patch);
	if (json_is_object(target))
		result = json_copy(target);
	else
		result = json_object();
	json_object_foreach(patch, key, value) {
		if (json_is_null(value)) {
			json_object_del(result, key);
		} else {
			json_t *merged = mergepatch_apply(json_object_get(result, key), value);
			json_object_set_new(result, key, merged);
		}
	}
	return result;
}
