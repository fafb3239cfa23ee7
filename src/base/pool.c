/* pool.c - the allocator of jansson: small blocks come back from
 * per-thread free lists instead of malloc and free.
 *
 * Why: every request is a tree of jansson values (the object, its hash
 * table, a pair per member, each string and number), built when the frame
 * is read and freed after the request: about twenty small allocations per
 * node.update. A batch also frees many blocks of one size in a row (the
 * ids of its replies), more than glibc's per-thread cache keeps, so those
 * frees took its slow path. Recycled from a list, a block costs a few
 * instructions each way (docs/PERFORMANCE.md has what it bought; the same
 * lists under SQLite's allocations bought too little to keep).
 *
 * Design
 * - Blocks up to POOL_MAX bytes are rounded up to a multiple of 16 (one
 *   list per size); a 16-byte header in front of each block names its list,
 *   so free needs no size. Larger blocks go to malloc with the same header
 *   (list 0).
 * - The lists are per thread (_Thread_local): no lock. A block freed on
 *   another thread than the one that allocated it joins that thread's list.
 *   Each list keeps at most POOL_KEEP blocks; beyond that free() takes them,
 *   so the lists of a thread hold at most about 5 MB, and only after a peak.
 * - A thread that used jansson calls pool_thread_release() before it ends
 *   (its lists would otherwise be lost); the main thread at exit.
 * - json_dumps allocates its result here too: pool_json_dumps hands back a
 *   copy of malloc, for the callers that free() it.
 * - Under AddressSanitizer the lists are off (every block goes to malloc
 *   and free at once, the header kept), so a use after free or a free() of
 *   a block of this allocator is still reported there. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pool.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define POOL_LISTS_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_LISTS_ON 0
#endif
#endif
#ifndef POOL_LISTS_ON
#define POOL_LISTS_ON 1
#endif

#define POOL_LISTS (POOL_MAX / 16)
#define POOL_KEEP 2048
#define POOL_HEAD 16 /* keeps the block aligned like malloc's */

struct head {
	size_t list; /* 0: a large block of malloc */
	size_t unused; /* keeps the block 16-byte aligned */
};

struct free_block {
	struct free_block *next;
};

struct free_list {
	struct free_block *head;
	unsigned n;
};

static _Thread_local struct free_list lists[POOL_LISTS + 1];

static struct head *head_of(void *p)
{
	return (struct head *)(void *)((unsigned char *)p - POOL_HEAD);
}

void *pool_malloc(size_t n)
{
	size_t k = n ? (n + 15) / 16 : 1;
	struct head *h;
	if (k <= POOL_LISTS && lists[k].head) {
		struct free_block *b = lists[k].head;
		lists[k].head = b->next;
		lists[k].n--;
		return b;
	}
	if (k > POOL_LISTS) {
		if (n > SIZE_MAX - POOL_HEAD || !(h = malloc(POOL_HEAD + n)))
			return NULL;
		h->list = 0;
	} else {
		if (!(h = malloc(POOL_HEAD + k * 16)))
			return NULL;
		h->list = k;
	}
	return (unsigned char *)h + POOL_HEAD;
}

void pool_free(void *p)
{
	struct head *h;
	size_t k;
	if (!p)
		return;
	h = head_of(p);
	k = h->list;
	if (POOL_LISTS_ON && k && lists[k].n < POOL_KEEP) {
		struct free_block *b = p;
		b->next = lists[k].head;
		lists[k].head = b;
		lists[k].n++;
		return;
	}
	free(h);
}

void pool_for_jansson(void)
{
	json_set_alloc_funcs(pool_malloc, pool_free);
}

char *pool_json_dumps(const json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags), *out;
	json_free_t jfree;
	if (!s)
		return NULL;
	out = xstrdup(s);
	json_get_alloc_funcs(NULL, &jfree);
	jfree(s);
	return out;
}

void pool_thread_release(void)
{
	for (size_t k = 1; k <= POOL_LISTS; k++) {
		while (lists[k].head) {
			struct free_block *b = lists[k].head;
			lists[k].head = b->next;
			free(head_of(b));
		}
		lists[k].n = 0;
	}
}

size_t pool_cached(void)
{
	size_t n = 0;
	for (size_t k = 1; k <= POOL_LISTS; k++)
		n += lists[k].n;
	return n;
}
