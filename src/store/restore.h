/* restore.h - databases installed from a backup, and the file work of the
 * online restore (admin.restore, POST /api/sessions/NAME/restore). No
 * session state here: session_admin.c drives it. */
#ifndef SESSIOND_RESTORE_H
#define SESSIOND_RESTORE_H

#include <stddef.h>

struct store;

/* Every backup carries a mark (meta backup_created_at, with
 * backup_reason). A session database that carries it was installed from a
 * backup, by whatever route: this removes the mark and gives the database
 * a new epoch (history_floor 0) in one transaction. Returns 1 when it did,
 * 0 for an unmarked database, -1 on a storage error (err set). `from` gets
 * meta restored_from when a tool recorded it, else "". */
int restore_claim_mark(struct store *st, char *from, size_t fromlen, char *err,
		       size_t errlen);
/* session_metadata.json describing the installed database (reason
 * "restore", backup `from`), so nothing reports the replaced file's last
 * save. */
int restore_write_metadata(const char *dir, struct store *st, const char *from);

/* DIR/.restore-pin: a hard link to backups/NAME, so the save taken before a
 * restore cannot rotate the chosen backup away. NAME must be a plain file
 * name of an existing backup: -1 with a message naming it otherwise. */
int restore_pin(const char *dir, const char *name, char *pin, size_t pinlen, char *err,
		size_t errlen);
/* integrity_check and a schema this server knows. */
int restore_verify(const char *path, char *err, size_t errlen);
/* With the session's database closed: copies pin to session.db.restore
 * (recording restored_from = name; the backup's mark stays, so opening it
 * gives the new epoch), moves session.db and its -wal/-shm aside as
 * session.db.before-restore-STAMP (never deleted), and renames the copy
 * into place. aside gets the name used. */
int restore_install(const char *dir, const char *pin, const char *name, char *aside,
		    size_t asidelen, char *err, size_t errlen);
/* With the session's database closed: undoes a restore_install whose
 * database cannot be opened: the installed copy (and its -wal/-shm) is
 * removed (the backup it came from stays) and `aside` moves back. */
int restore_undo(const char *dir, const char *aside, char *err, size_t errlen);

#endif
