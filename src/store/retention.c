/* retention.c - which backups rotation keeps, and why.
 *
 * Like restic's `forget --keep-last N --keep-hourly H --keep-daily D` (and
 * borg prune): besides the newest MAX_BACKUPS, rotation keeps the newest
 * backup of each of the last BACKUP_KEEP_HOURLY hours that have a backup,
 * and of each of the last BACKUP_KEEP_DAILY days that have one. Six people
 * coming and going can make nine backups in minutes; with this, an hour-old
 * and a day-old state survive them. Counting hours "that have a backup"
 * (not calendar hours) keeps the history of a session nobody touched for a
 * week instead of rotating it all out.
 *
 * Buckets come from the UTC stamp in the file name (the time the backup was
 * made); order comes from the caller's list (newest first), so the newest
 * file of a bucket is the first one met. A pure function: unit-tested
 * without files. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "retention.h"

/* The "YYYYMMDDHH" (len 10) or "YYYYMMDD" (len 8) bucket of a name. */
static int bucket(const char *name, size_t len, char *out)
{
	if (strncmp(name, "snapshot_", 9) != 0 || strlen(name) < 9 + 15)
		return -1;
	memcpy(out, name + 9, 8);            /* YYYYMMDD */
	if (len == 10)
		memcpy(out + 8, name + 9 + 9, 2); /* HH after the '_' */
	out[len] = 0;
	return 0;
}

static void keep_buckets(char *const *names, int n, long count, size_t len, unsigned bit,
			 unsigned *flags)
{
	char last[16] = "", b[16];
	long seen = 0;
	for (int i = 0; i < n && seen < count; i++) {
		if (bucket(names[i], len, b) != 0) {
			flags[i] |= bit; /* a name we cannot place is never removed */
			continue;
		}
		if (strcmp(b, last) == 0)
			continue; /* an older backup of a bucket already kept */
		memcpy(last, b, sizeof(last));
		flags[i] |= bit;
		seen++;
	}
}

void retention_plan(char *const *names, int n, long keep_last, long hourly, long daily,
		    unsigned *flags)
{
	for (int i = 0; i < n; i++)
		flags[i] = i < (keep_last < 1 ? 1 : keep_last) ? RETAIN_LAST : 0;
	keep_buckets(names, n, hourly, 10, RETAIN_HOURLY, flags);
	keep_buckets(names, n, daily, 8, RETAIN_DAILY, flags);
}

const char *retention_rule_name(unsigned bit)
{
	return bit == RETAIN_LAST ? "last" : bit == RETAIN_HOURLY ? "hourly"
	       : bit == RETAIN_DAILY ? "daily" : "?";
}

void retention_annotate(json_t *list, long keep_last, long hourly, long daily)
{
	size_t n = json_array_size(list);
	char **names = calloc(n + 1, sizeof(char *));
	unsigned *flags = calloc(n + 1, sizeof(unsigned));
	if (!names || !flags)
		abort();
	for (size_t i = 0; i < n; i++)
		names[i] = (char *)json_string_value(json_object_get(json_array_get(list, i),
								      "file"));
	for (size_t i = 0; i < n; i++)
		if (!names[i])
			names[i] = "";
	retention_plan(names, (int)n, keep_last, hourly, daily, flags);
	for (size_t i = 0; i < n; i++) {
		json_t *by = json_array();
		for (unsigned bit = RETAIN_LAST; bit <= RETAIN_DAILY; bit <<= 1)
			if (flags[i] & bit)
				json_array_append_new(by, json_string(retention_rule_name(bit)));
		json_object_set_new(json_array_get(list, i), "kept_by", by);
	}
	free(names);
	free(flags);
}
