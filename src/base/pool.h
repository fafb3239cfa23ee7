/* pool.h - the allocator of jansson: small blocks recycled through
 * per-thread free lists (pool.c says why and how). */
#ifndef SESSIOND_POOL_H
#define SESSIOND_POOL_H

#include <jansson.h>
#include <stddef.h>

/* Blocks of at most this many bytes are recycled; larger ones are malloc's. */
#define POOL_MAX 256

/* malloc and free of this allocator; a block of one is never passed to
 * libc's free. */
void *pool_malloc(size_t n);
void pool_free(void *p);
/* Makes jansson allocate here. Call once, before any jansson value exists
 * (a value made before would be freed into a list it never came from). */
void pool_for_jansson(void);
/* json_dumps(v, flags) as a string of malloc, for free(): json_dumps
 * allocates with jansson's allocator. */
char *pool_json_dumps(const json_t *v, size_t flags);
/* Frees the calling thread's cached blocks; a thread that used jansson calls
 * it before it ends, and main at exit. */
void pool_thread_release(void);
/* Blocks the calling thread's lists hold (for tests). */
size_t pool_cached(void);

#endif
