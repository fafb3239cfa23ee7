/* retention.h - which backups rotation keeps, and why. */
#ifndef SESSIOND_RETENTION_H
#define SESSIOND_RETENTION_H

enum {
	RETAIN_LAST = 1,    /* one of the newest MAX_BACKUPS */
	RETAIN_HOURLY = 2,  /* the newest of its hour, one of the last BACKUP_KEEP_HOURLY */
	RETAIN_DAILY = 4,   /* the newest of its day, one of the last BACKUP_KEEP_DAILY */
};

/* names: backup file names "snapshot_YYYYMMDD_HHMMSS[_N].db", newest first
 * (as backup_list gives them). flags[i] gets the rules that keep names[i];
 * 0 means rotation removes it. The newest is always kept (keep_last >= 1). */
void retention_plan(char *const *names, int n, long keep_last, long hourly, long daily,
		    unsigned *flags);
/* "last", "hourly" or "daily": the name of one RETAIN_ bit. */
const char *retention_rule_name(unsigned bit);
/* Adds "kept_by": ["last", "hourly", "daily"] (the rules that keep it; []
 * for a file the next rotation removes) to every entry of a backup list as
 * backup_list_json makes it (newest first). list is borrowed. */
struct json_t;
void retention_annotate(struct json_t *list, long keep_last, long hourly, long daily);

#endif
