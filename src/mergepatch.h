/* mergepatch.h - RFC 7386 JSON Merge Patch. */
#ifndef SESSIOND_MERGEPATCH_H
#define SESSIOND_MERGEPATCH_H

#include <jansson.h>

/* Returns a new reference: target (borrowed) with patch (borrowed) applied.
 * target may be NULL (treated as absent). */
json_t *mergepatch_apply(json_t *target, json_t *patch);

#endif
