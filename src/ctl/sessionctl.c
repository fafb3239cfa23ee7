/* sessionctl.c - the operator's tool: command line and output.
 *
 * Design notes
 * - This file only parses arguments and prints; the work is in ctl_*.c
 *   (ctl.h), which the unit tests drive without a process. Every command
 *   gets its result as JSON and prints it either as that JSON (--json, one
 *   document on stdout) or as lines for a person.
 * - Exit codes: 0 done / sound, 1 a check failed (verify found problems, a
 *   backup to restore is damaged), 2 usage or I/O (missing file, not an
 *   SQLite file, newer schema, locked database, full disk, a running server
 *   in the way). Every failure is one line on stderr: "sessionctl: ...".
 * - Reading commands (list, info, verify, diff, export, backup) open
 *   databases read-only and are safe while a server runs; restore and
 *   delete take the server's DATA_DIR lock and refuse while it is held;
 *   import creates a new session directory atomically. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"
#include "version.h"

static const char usage_text[] =
	"usage: sessionctl COMMAND [ARGS] [--json]\n"
	"\n"
	"  list [DATA_DIR]                 every session: size, counts, seq, epoch, last save,\n"
	"                                  backups (DATA_DIR: $DATA_DIR or ./data)\n"
	"  info PATH                       one session directory, session.db or backup file\n"
	"  verify PATH                     integrity, schema, deps, blob hashes (exit 1: problems)\n"
	"  backup PATH DEST [--force]      consistent copy of a live session; DEST a new file\n"
	"                                  (--force: replace one) or a directory\n"
	"                                  (NAME-YYYYMMDD-HHMMSS.db); never inside a session\n"
	"                                  directory; prints the path\n"
	"  restore SESSION_DIR BACKUP      server stopped: install BACKUP with a new epoch, the\n"
	"                                  current database moved aside\n"
	"  export PATH [--no-blobs]        the whole session as JSON on stdout\n"
	"  import SESSION_DIR FILE         a new session from an export (never overwrites)\n"
	"  diff A B                        nodes, tasks, chat and blobs changed from A to B\n"
	"  delete SESSION_DIR              server stopped: move the session to DATA_DIR/.deleted/\n"
	"\n"
	"Exit status: 0 ok, 1 a check failed, 2 usage or I/O error.\n";

struct args {
	const char *cmd;
	const char *pos[3];
	int npos;
	int json;
	int no_blobs;
	int force;
};

static int fail(int code, const char *msg)
{
	fputs("sessionctl: ", stderr);
	for (const char *p = msg; *p; p++)
		fputc(*p == '\n' ? ' ' : *p, stderr);
	fputc('\n', stderr);
	return code;
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	puts(s);
	free(s);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) :
	       json_is_real(v) ? (long long)json_real_value(v) : 0;
}

static void when(json_t *v, char *out, size_t len)
{
	time_t t;
	struct tm tm;
	if (!json_is_number(v)) {
		snprintf(out, len, "-");
		return;
	}
	t = (time_t)json_number_value(v);
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void human_bytes(long long n, char *out, size_t len)
{
	if (n >= 10LL << 20)
		snprintf(out, len, "%lld MiB", n >> 20);
	else if (n >= 10LL << 10)
		snprintf(out, len, "%lld KiB", n >> 10);
	else
		snprintf(out, len, "%lld B", n);
}

static int cmd_list(struct args *a)
{
	char err[CTL_ERRLEN];
	const char *dir = a->npos > 0 ? a->pos[0] : getenv("DATA_DIR");
	json_t *o, *s;
	size_t i;
	int r, bad = 0;
	if (!dir || !*dir)
		dir = "./data";
	r = ctl_list(dir, &o, err, sizeof(err));
	if (r != CTL_OK)
		return fail(r, err);
	json_array_foreach(json_object_get(o, "sessions"), i, s)
		bad |= json_object_get(s, "error") != NULL;
	if (a->json) {
		print_json(o);
		json_decref(o);
		return bad ? CTL_FAILED : CTL_OK;
	}
	printf("%s: %s\n", dir, json_is_true(json_object_get(o, "server_running")) ?
	       "a server is running on it" : "no server running");
	printf("%-24s %9s %7s %6s %6s %6s %8s %-32s %-20s %-20s %7s\n", "SESSION", "SIZE", "NODES",
	       "TASKS", "CHAT", "BLOBS", "SEQ", "EPOCH", "LAST SAVE", "REASON", "BACKUPS");
	json_array_foreach(json_object_get(o, "sessions"), i, s) {
		char size[32];
		json_t *ls = json_object_get(s, "last_save");
		human_bytes(num(s, "bytes"), size, sizeof(size));
		if (json_object_get(s, "error")) {
			printf("%-24s %9s  ERROR: %s\n", str(s, "name"), size, str(s, "error"));
			continue;
		}
		printf("%-24s %9s %7lld %6lld %6lld %6lld %8lld %-32s %-20s %-20s %7lld\n",
		       str(s, "name"), size, num(s, "nodes"), num(s, "tasks"), num(s, "chat"),
		       num(s, "blobs"), num(s, "seq"), str(s, "epoch"), str(ls, "datetime"),
		       str(ls, "reason"), num(s, "backups"));
	}
	json_decref(o);
	return bad ? CTL_FAILED : CTL_OK;
}

static int cmd_info(struct args *a)
{
	char err[CTL_ERRLEN], t1[32], t2[32], b1[32], b2[32];
	json_t *o, *bk;
	int r = ctl_info(a->pos[0], &o, err, sizeof(err));
	if (r != CTL_OK)
		return fail(r, err);
	if (a->json) {
		print_json(o);
		json_decref(o);
		return CTL_OK;
	}
	bk = json_object_get(o, "backup");
	when(json_object_get(o, "created_at"), t1, sizeof(t1));
	human_bytes(num(o, "file_bytes"), b1, sizeof(b1));
	human_bytes(num(o, "wal_bytes"), b2, sizeof(b2));
	printf("path:           %s\n", str(o, "path"));
	printf("schema version: %lld\n", num(o, "schema_version"));
	printf("epoch:          %s\n", str(o, "epoch"));
	printf("seq:            %lld\n", num(o, "seq"));
	printf("initialized:    %s\n", json_is_true(json_object_get(o, "initialized")) ? "yes" : "no");
	printf("created:        %s\n", t1);
	printf("nodes:          %lld (+%lld tombstones)\n", num(o, "nodes"), num(o, "tombstones"));
	printf("tasks:          %lld\n", num(o, "tasks"));
	printf("chat:           %lld\n", num(o, "chat"));
	printf("users:          %lld\n", num(o, "users"));
	printf("blobs:          %lld (%lld bytes)\n", num(o, "blobs"), num(o, "blob_bytes"));
	printf("file:           %s (WAL %s)\n", b1, b2);
	if (json_is_object(bk)) {
		when(json_object_get(bk, "created_at"), t2, sizeof(t2));
		printf("backup:         reason %s, made %s\n", str(bk, "reason"), t2);
	} else {
		printf("backup:         no (a session database)\n");
	}
	if (json_is_string(json_object_get(o, "restored_from")))
		printf("restored from:  %s\n", str(o, "restored_from"));
	json_decref(o);
	return CTL_OK;
}

static int cmd_verify(struct args *a)
{
	char err[CTL_ERRLEN] = "";
	json_t *problems = NULL, *p;
	size_t i;
	int r = ctl_verify(a->pos[0], &problems, err, sizeof(err));
	if (r == CTL_ERROR) {
		json_decref(problems);
		return fail(r, err);
	}
	if (a->json) {
		json_t *o = json_pack("{ss sb sO}", "path", a->pos[0], "ok", r == CTL_OK,
				      "problems", problems);
		print_json(o);
		json_decref(o);
	} else if (r == CTL_OK) {
		printf("%s: ok\n", a->pos[0]);
	} else {
		json_array_foreach(problems, i, p)
			printf("%s: %s\n", a->pos[0], json_string_value(p));
		fprintf(stderr, "sessionctl: %s: %zu problem(s) found\n", a->pos[0],
			json_array_size(problems));
	}
	json_decref(problems);
	return r;
}

static int cmd_backup(struct args *a)
{
	char err[CTL_ERRLEN], path[CTL_PATH];
	int r = ctl_backup(a->pos[0], a->pos[1], a->force, path, sizeof(path), err, sizeof(err));
	if (r != CTL_OK)
		return fail(r, err);
	if (a->json) {
		json_t *o = json_pack("{ss}", "path", path);
		print_json(o);
		json_decref(o);
	} else {
		puts(path);
	}
	return CTL_OK;
}

static int cmd_restore(struct args *a)
{
	char err[CTL_ERRLEN];
	json_t *o;
	int r = ctl_restore(a->pos[0], a->pos[1], &o, err, sizeof(err));
	if (r != CTL_OK)
		return fail(r, err);
	if (a->json) {
		print_json(o);
	} else {
		printf("restored %s from %s: seq %lld, %lld nodes, new epoch %s\n", a->pos[0],
		       str(o, "backup"), num(o, "seq"), num(o, "nodes"), str(o, "epoch"));
		if (json_is_string(json_object_get(o, "moved_aside")))
			printf("the previous database is kept as %s\n", str(o, "moved_aside"));
	}
	json_decref(o);
	return CTL_OK;
}

static int cmd_export(struct args *a)
{
	char err[CTL_ERRLEN];
	int r = ctl_export(a->pos[0], !a->no_blobs, stdout, err, sizeof(err));
	return r == CTL_OK ? CTL_OK : fail(r, err);
}

static int cmd_import(struct args *a)
{
	char err[CTL_ERRLEN];
	json_t *o;
	int r = ctl_import(a->pos[0], a->pos[1], &o, err, sizeof(err));
	if (r != CTL_OK)
		return fail(r, err);
	if (a->json)
		print_json(o);
	else
		printf("imported %s: seq %lld, %lld nodes, %lld tasks, %lld chat, %lld blobs\n",
		       a->pos[0], num(o, "seq"), num(o, "nodes"), num(o, "tasks"), num(o, "chat"),
		       num(o, "blobs"));
	json_decref(o);
	return CTL_OK;
}

static void print_keys(json_t *keys)
{
	json_t *k;
	size_t i;
	json_array_foreach(keys, i, k)
		printf("%s%s", i ? ", " : "", json_string_value(k));
}

static int cmd_diff(struct args *a)
{
	char err[CTL_ERRLEN];
	json_t *o, *n, *t, *c, *x, *bl;
	size_t i;
	int r = ctl_diff(a->pos[0], a->pos[1], &o, err, sizeof(err));
	if (r != CTL_OK)
		return fail(r, err);
	if (a->json) {
		print_json(o);
		json_decref(o);
		return CTL_OK;
	}
	n = json_object_get(o, "nodes");
	t = json_object_get(o, "tasks");
	c = json_object_get(o, "chat");
	bl = json_object_get(o, "blobs");
	printf("from %s (seq %lld) to %s (seq %lld)%s\n", a->pos[0],
	       num(json_object_get(o, "a"), "seq"), a->pos[1], num(json_object_get(o, "b"), "seq"),
	       json_is_true(json_object_get(o, "same_history")) ? "" :
	       " - different epochs: not one history");
	printf("nodes: %zu added, %zu removed, %zu changed\n",
	       json_array_size(json_object_get(n, "added")),
	       json_array_size(json_object_get(n, "removed")),
	       json_array_size(json_object_get(n, "changed")));
	json_array_foreach(json_object_get(n, "added"), i, x)
		printf("  + %s (%s)\n", str(x, "uuid"), str(x, "kind"));
	json_array_foreach(json_object_get(n, "removed"), i, x)
		printf("  - %s (%s)\n", str(x, "uuid"), str(x, "kind"));
	json_array_foreach(json_object_get(n, "changed"), i, x) {
		printf("  ~ %s (%s):", str(x, "uuid"), str(x, "kind"));
		if (json_array_size(json_object_get(x, "keys"))) {
			printf(" data keys ");
			print_keys(json_object_get(x, "keys"));
		}
		if (json_is_true(json_object_get(x, "deps_changed")))
			printf("%s", " deps");
		if (json_is_true(json_object_get(x, "kind_changed")))
			printf("%s", " kind");
		printf("\n");
	}
	printf("tasks: %zu added, %zu removed, %zu changed\n",
	       json_array_size(json_object_get(t, "added")),
	       json_array_size(json_object_get(t, "removed")),
	       json_array_size(json_object_get(t, "changed")));
	json_array_foreach(json_object_get(t, "added"), i, x)
		printf("  + #%lld %s [%s]\n", num(x, "id"), str(x, "title"), str(x, "status"));
	json_array_foreach(json_object_get(t, "removed"), i, x)
		printf("  - #%lld %s\n", num(x, "id"), str(x, "title"));
	json_array_foreach(json_object_get(t, "changed"), i, x)
		printf("  ~ #%lld %s: %s\n", num(x, "id"), str(x, "title"), str(x, "fields"));
	printf("chat: %zu added\n", json_array_size(json_object_get(c, "added")));
	json_array_foreach(json_object_get(c, "added"), i, x)
		printf("  + #%lld %s: %s\n", num(x, "id"), str(x, "user"), str(x, "text"));
	if (json_is_object(bl))
		printf("blobs: %zu added, %zu removed\n",
		       json_array_size(json_object_get(bl, "added")),
		       json_array_size(json_object_get(bl, "removed")));
	json_decref(o);
	return CTL_OK;
}

static int cmd_delete(struct args *a)
{
	char err[CTL_ERRLEN], to[CTL_PATH + 512];
	int r = ctl_delete(a->pos[0], to, sizeof(to), err, sizeof(err));
	if (r != CTL_OK)
		return fail(r, err);
	if (a->json) {
		json_t *o = json_pack("{ss ss}", "session", a->pos[0], "moved_to", to);
		print_json(o);
		json_decref(o);
	} else {
		printf("deleted %s: moved to %s\n", a->pos[0], to);
	}
	return CTL_OK;
}

struct command {
	const char *name;
	int min, max;       /* positional arguments */
	int (*run)(struct args *);
};

static const struct command commands[] = {
	{"list", 0, 1, cmd_list},
	{"info", 1, 1, cmd_info},
	{"verify", 1, 1, cmd_verify},
	{"backup", 2, 2, cmd_backup},
	{"restore", 2, 2, cmd_restore},
	{"export", 1, 1, cmd_export},
	{"import", 2, 2, cmd_import},
	{"diff", 2, 2, cmd_diff},
	{"delete", 1, 1, cmd_delete},
};

int main(int argc, char **argv)
{
	struct args a = {0};
	const struct command *c = NULL;
	char msg[256];

	/* A file-size limit must fail the write (reported, temp file removed),
	 * not kill the process with the temp file left behind. */
	signal(SIGXFSZ, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(s, "--version") == 0) {
			printf("sessionctl %s\n", SESSIOND_VERSION);
			return 0;
		} else if (strcmp(s, "--json") == 0) {
			a.json = 1;
		} else if (strcmp(s, "--no-blobs") == 0) {
			a.no_blobs = 1;
		} else if (strcmp(s, "--force") == 0) {
			a.force = 1;
		} else if (s[0] == '-' && s[1]) {
			snprintf(msg, sizeof(msg), "unknown option \"%s\" (see --help)", s);
			return fail(CTL_ERROR, msg);
		} else if (!a.cmd) {
			a.cmd = s;
		} else if (a.npos < 3) {
			a.pos[a.npos++] = s;
		} else {
			snprintf(msg, sizeof(msg), "too many arguments (see --help)");
			return fail(CTL_ERROR, msg);
		}
	}
	if (!a.cmd) {
		fputs(usage_text, stderr);
		return CTL_ERROR;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, a.cmd) == 0)
			c = &commands[i];
	if (!c) {
		snprintf(msg, sizeof(msg), "unknown command \"%s\" (see --help)", a.cmd);
		return fail(CTL_ERROR, msg);
	}
	if (a.npos < c->min || a.npos > c->max) {
		snprintf(msg, sizeof(msg), "%s takes %d%s argument(s) (see --help)", c->name, c->min,
			 c->max > c->min ? " or more" : "");
		return fail(CTL_ERROR, msg);
	}
	if (a.no_blobs && strcmp(c->name, "export") != 0)
		return fail(CTL_ERROR, "--no-blobs belongs to export");
	if (a.force && strcmp(c->name, "backup") != 0)
		return fail(CTL_ERROR, "--force belongs to backup");
	return c->run(&a);
}
