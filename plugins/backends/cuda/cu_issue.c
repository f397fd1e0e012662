/* cu_issue.c: the deferred runs and their graphs (cu_issue.h). A run's shape is compared call
 * by call with the entries of a small LRU cache; the outcome is always the same work in the
 * same order on the stream, whether issued eagerly, captured or replayed. Allocates only while
 * runs grow (warm-up), never to replay. */
#include <stdlib.h>
#include <string.h>

#include "cu_issue.h"

void cu_issue_init(cu_issue *q, const cu_exec_ops *ops, void *ctx, int defer)
{
    memset(q, 0, sizeof *q);
    q->ops = ops;
    q->ctx = ctx;
    q->defer = defer;
    q->min_calls = 2;
}

static void entry_free(cu_issue *q, cu_run_entry *e)
{
    if (e->exec)
        q->ops->destroy(q->ctx, e->exec);
    free(e->calls);
    free(e->payload);
    free(e->nodes);
    memset(e, 0, sizeof *e);
}

void cu_issue_forget(cu_issue *q)
{
    for (int i = 0; i < CU_GRAPH_CACHE; i++)
        if (q->entries[i].state)
            entry_free(q, &q->entries[i]);
}

void cu_issue_destroy(cu_issue *q)
{
    cu_issue_forget(q);
    free(q->calls);
    free(q->arena);
    q->calls = NULL;
    q->arena = NULL;
    q->n = q->cap = 0;
    q->used = q->arena_cap = 0;
}

void cu_issue_sync_point(cu_issue *q)
{
    q->run_index = 0;
    q->busy = 0;
}

int cu_issue_idle(const cu_issue *q)
{
    return !q->busy && q->n == 0;
}

/* one call issued at once, outside any run */
static int issue_now(cu_issue *q, const cu_call *c, const void *payload, nn_error *err)
{
    q->stats.calls++;
    q->stats.eager++;
    q->busy = 1;
    return q->ops->issue(q->ctx, c, payload, err);
}

/* appends c (and a copy of its payload) to the pending run */
static int record(cu_issue *q, cu_call *c, const void *payload, size_t size, nn_error *err)
{
    if (size > UINT32_MAX)
        return nn_error_set(err, NN_EINVAL, "%s: a %zu-byte call payload", c->who, size);
    if (!q->defer) {
        c->size = (uint32_t)size;
        return issue_now(q, c, payload, err);
    }
    if (q->n == q->cap) {
        int cap = q->cap ? 2 * q->cap : 64;
        cu_call *l = realloc(q->calls, sizeof *l * (size_t)cap);
        if (!l)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory recording a call", c->who);
        q->calls = l;
        q->cap = cap;
    }
    size_t at = (q->used + 15) & ~(size_t)15;
    if (at + size > q->arena_cap) {
        size_t cap = q->arena_cap ? 2 * q->arena_cap : 4096;
        while (cap < at + size)
            cap *= 2;
        unsigned char *a = realloc(q->arena, cap);
        if (!a)
            return nn_error_set(err, NN_ENOMEM, "%s: out of memory recording a call", c->who);
        q->arena = a;
        q->arena_cap = cap;
    }
    if (size)
        memcpy(q->arena + at, payload, size);
    c->off = (uint32_t)at;
    c->size = (uint32_t)size;
    q->used = at + size;
    q->calls[q->n++] = *c;
    q->stats.calls++;
    return NN_OK;
}

int cu_issue_kernel(cu_issue *q, const char *who, const void *fn, const uint32_t grid[3],
                    const uint32_t block[3], uint32_t smem, const void *args, size_t size,
                    nn_error *err)
{
    cu_call c = {.kind = CU_CALL_KERNEL, .who = who, .fn = fn, .smem = smem};
    memcpy(c.grid, grid, sizeof c.grid);
    memcpy(c.block, block, sizeof c.block);
    return record(q, &c, args, size, err);
}

int cu_issue_memset(cu_issue *q, const char *who, void *dst, int value, size_t bytes,
                    nn_error *err)
{
    cu_call c = {.kind = CU_CALL_MEMSET, .who = who, .dst = dst, .value = value, .bytes = bytes};
    return record(q, &c, NULL, 0, err);
}

int cu_issue_copy(cu_issue *q, const char *who, void *dst, const void *src, size_t bytes,
                  nn_error *err)
{
    cu_call c = {.kind = CU_CALL_COPY, .who = who, .dst = dst, .src = src, .bytes = bytes};
    return record(q, &c, NULL, 0, err);
}

int cu_issue_lib(cu_issue *q, const char *who, cu_lib_fn lib, const void *payload, size_t size,
                 nn_error *err)
{
    cu_call c = {.kind = CU_CALL_LIB, .who = who, .lib = lib};
    return record(q, &c, payload, size, err);
}

/* ---- shapes ------------------------------------------------------------------------------ */

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* what must be equal for a graph of one run to serve another: everything but kernel
 * arguments and copy addresses */
static uint64_t call_hash(uint64_t h, const cu_call *c, const unsigned char *payload)
{
    h = mix(h, &c->kind, sizeof c->kind);
    switch (c->kind) {
    case CU_CALL_KERNEL:
        h = mix(h, &c->fn, sizeof c->fn);
        h = mix(h, c->grid, sizeof c->grid);
        h = mix(h, c->block, sizeof c->block);
        h = mix(h, &c->smem, sizeof c->smem);
        h = mix(h, &c->size, sizeof c->size);
        break;
    case CU_CALL_MEMSET:
        h = mix(h, &c->dst, sizeof c->dst);
        h = mix(h, &c->value, sizeof c->value);
        h = mix(h, &c->bytes, sizeof c->bytes);
        break;
    case CU_CALL_COPY:
        h = mix(h, &c->bytes, sizeof c->bytes);
        break;
    default:
        h = mix(h, &c->lib, sizeof c->lib);
        h = mix(h, &c->size, sizeof c->size);
        h = mix(h, payload + c->off, c->size);
    }
    return h;
}

static int same_call(const cu_call *a, const unsigned char *pa, const cu_call *b,
                     const unsigned char *pb)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case CU_CALL_KERNEL:
        return a->fn == b->fn && !memcmp(a->grid, b->grid, sizeof a->grid) &&
               !memcmp(a->block, b->block, sizeof a->block) && a->smem == b->smem &&
               a->size == b->size;
    case CU_CALL_MEMSET:
        return a->dst == b->dst && a->value == b->value && a->bytes == b->bytes;
    case CU_CALL_COPY:
        return a->bytes == b->bytes;
    default:
        return a->lib == b->lib && a->size == b->size &&
               !memcmp(pa + a->off, pb + b->off, a->size);
    }
}

static cu_run_entry *find_entry(cu_issue *q, uint64_t hash)
{
    for (int i = 0; i < CU_GRAPH_CACHE; i++) {
        cu_run_entry *e = &q->entries[i];
        if (!e->state || e->index != q->run_index || e->hash != hash || e->n != q->n)
            continue;
        int same = 1;
        for (int k = 0; same && k < q->n; k++)
            same = same_call(&e->calls[k], e->payload, &q->calls[k], q->arena);
        if (same)
            return e;
    }
    return NULL;
}

/* a free slot, or the least recently used one emptied */
static cu_run_entry *new_entry(cu_issue *q)
{
    cu_run_entry *lru = &q->entries[0];
    for (int i = 0; i < CU_GRAPH_CACHE; i++) {
        if (!q->entries[i].state)
            return &q->entries[i];
        if (q->entries[i].used < lru->used)
            lru = &q->entries[i];
    }
    entry_free(q, lru);
    return lru;
}

/* the pending run's calls and payload, copied into e */
static int keep_run(cu_issue *q, cu_run_entry *e, uint64_t hash)
{
    e->calls = malloc(sizeof *e->calls * (size_t)q->n);
    e->payload = malloc(q->used ? q->used : 1);
    e->nodes = calloc((size_t)q->n, sizeof *e->nodes);
    if (!e->calls || !e->payload || !e->nodes) {
        free(e->calls);
        free(e->payload);
        free(e->nodes);
        memset(e, 0, sizeof *e);
        return NN_ENOMEM;
    }
    memcpy(e->calls, q->calls, sizeof *e->calls * (size_t)q->n);
    memcpy(e->payload, q->arena, q->used);
    e->n = q->n;
    e->hash = hash;
    e->index = q->run_index;
    return NN_OK;
}

/* ---- flushing ---------------------------------------------------------------------------- */

static int run_eager(cu_issue *q, nn_error *err)
{
    for (int k = 0; k < q->n; k++) {
        int rc = q->ops->issue(q->ctx, &q->calls[k], q->arena + q->calls[k].off, err);
        q->stats.eager++;
        if (rc)
            return rc;
    }
    return NN_OK;
}

static int patchable(const cu_call *c)
{
    return c->kind == CU_CALL_KERNEL || c->kind == CU_CALL_COPY;
}

/* captures the pending run into e's graph and launches it; NN_OK with e->exec NULL when the
 * capture failed (the caller then issues the run eagerly) */
static int capture(cu_issue *q, cu_run_entry *e, nn_error *err)
{
    nn_error cerr = {0};
    int rc = q->ops->capture_begin(q->ctx, &cerr);
    if (rc)
        return NN_OK;
    int ok = 1;
    for (int k = 0; ok && k < q->n; k++) {
        ok = q->ops->issue(q->ctx, &q->calls[k], q->arena + q->calls[k].off, &cerr) == NN_OK;
        if (ok && patchable(&q->calls[k]))
            ok = (e->nodes[k] = q->ops->captured_node(q->ctx)) != NULL;
    }
    void *exec = NULL;
    rc = q->ops->capture_end(q->ctx, &exec, &cerr);
    if (!ok || rc || !exec) {
        if (exec)
            q->ops->destroy(q->ctx, exec);
        return NN_OK;
    }
    e->exec = exec;
    /* the graph holds this run's arguments (the entry still has the first sighting's) */
    memcpy(e->calls, q->calls, sizeof *e->calls * (size_t)q->n);
    memcpy(e->payload, q->arena, q->used);
    q->stats.captures++;
    return q->ops->launch(q->ctx, exec, err);
}

/* patches what changed since e's graph last ran, then launches it */
static int replay(cu_issue *q, cu_run_entry *e, nn_error *err)
{
    for (int k = 0; k < q->n; k++) {
        cu_call *now = &q->calls[k], *was = &e->calls[k];
        const unsigned char *pn = q->arena + now->off;
        unsigned char *pw = e->payload + was->off;
        int changed = now->kind == CU_CALL_KERNEL ? memcmp(pn, pw, now->size) != 0
                      : now->kind == CU_CALL_COPY ? now->dst != was->dst || now->src != was->src
                                                  : 0;
        if (!changed)
            continue;
        int rc = q->ops->patch(q->ctx, e->exec, e->nodes[k], now, pn, err);
        if (rc)
            return rc;
        memcpy(pw, pn, now->size);
        was->dst = now->dst;
        was->src = now->src;
        q->stats.patches++;
    }
    q->stats.replays++;
    return q->ops->launch(q->ctx, e->exec, err);
}

int cu_issue_flush(cu_issue *q, nn_error *err)
{
    if (q->n == 0)
        return NN_OK;
    q->busy = 1;
    q->stats.runs++;
    int rc = NN_OK;
    if (q->n < q->min_calls) {
        rc = run_eager(q, err);
    } else {
        uint64_t hash = 0xcbf29ce484222325ull;
        for (int k = 0; k < q->n; k++)
            hash = call_hash(hash, &q->calls[k], q->arena);
        cu_run_entry *e = find_entry(q, hash);
        if (e)
            e->used = ++q->clock;
        if (e && e->state == CU_RUN_GRAPH) {
            nn_error perr = {0};
            rc = replay(q, e, &perr);
            if (rc) { /* a graph that cannot be patched or launched: never again */
                q->stats.failed++;
                q->ops->destroy(q->ctx, e->exec);
                e->exec = NULL;
                e->state = CU_RUN_EAGER;
                rc = run_eager(q, err);
            }
        } else if (e && e->state == CU_RUN_SEEN) {
            rc = capture(q, e, err);
            if (rc == NN_OK && e->exec) {
                e->state = CU_RUN_GRAPH;
            } else if (rc == NN_OK) {
                q->stats.failed++;
                e->state = CU_RUN_EAGER;
                rc = run_eager(q, err);
            } else { /* the graph was made but did not launch: the run has not happened */
                q->stats.failed++;
                q->ops->destroy(q->ctx, e->exec);
                e->exec = NULL;
                e->state = CU_RUN_EAGER;
                rc = run_eager(q, err);
            }
        } else {
            if (!e && (e = new_entry(q)) && keep_run(q, e, hash) == NN_OK) {
                e->state = CU_RUN_SEEN;
                e->used = ++q->clock;
            }
            rc = run_eager(q, err);
        }
    }
    q->n = 0;
    q->used = 0;
    q->run_index++;
    return rc;
}
