/* sim_mem.c: the sim device's memory. Device addresses come from a PROT_NONE reservation, so
 * the core or a CPU plugin that dereferences one faults at once; the bytes live at the same
 * offset in a second mapping that only the pack's own kernels reach, through sim_mem_bytes(),
 * which also checks that an access lies inside one live allocation of *this* device. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim.h"

#define SIM_DEFAULT_CAP ((size_t)16 << 30)
#define SIM_COMMIT_STEP ((size_t)64 << 20)

/* every open device's address range, so a pointer of another device is named in errors */
static struct {
    const char *base;
    size_t cap;
    char name[16];
} g_ranges[64];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* NNTRAIN_SIM_MEMORY=16G: the size of each device (digits with an optional K, M or G) */
static int read_cap(size_t *cap, nn_error *err)
{
    const char *s = getenv("NNTRAIN_SIM_MEMORY");
    *cap = SIM_DEFAULT_CAP;
    if (!s || !*s)
        return NN_OK;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    size_t mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = (size_t)1 << 10;
    else if (*end == 'M' || *end == 'm')
        mult = (size_t)1 << 20;
    else if (*end == 'G' || *end == 'g')
        mult = (size_t)1 << 30;
    if (mult > 1)
        end++;
    if (errno || end == s || *end || v == 0 || v > ((size_t)1 << 46) / mult)
        return nn_error_set(err, NN_EINVAL, "sim: NNTRAIN_SIM_MEMORY = \"%s\": expected a size "
                            "such as 512M or 16G (at most 64 TiB)", s);
    *cap = (size_t)v * mult;
    return NN_OK;
}

int sim_mem_open(sim_dev *d, int index, nn_error *err)
{
    size_t cap;
    int rc = read_cap(&cap, err);
    if (rc)
        return rc;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    cap = (cap + page - 1) / page * page;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    void *base = mmap(NULL, cap, PROT_NONE, flags, -1, 0);
    if (base == MAP_FAILED)
        return nn_error_set(err, NN_ENOMEM, "sim:%d: cannot reserve %zu bytes of address "
                            "space: %s", index, cap, strerror(errno));
    void *mem = mmap(NULL, cap, PROT_NONE, flags, -1, 0);
    if (mem == MAP_FAILED) {
        munmap(base, cap);
        return nn_error_set(err, NN_ENOMEM, "sim:%d: cannot reserve %zu bytes of address "
                            "space: %s", index, cap, strerror(errno));
    }
    d->index = index;
    snprintf(d->name, sizeof d->name, "sim:%d", index);
    d->base = base;
    d->mem = mem;
    d->cap = cap;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < sizeof g_ranges / sizeof g_ranges[0]; i++)
        if (!g_ranges[i].base) {
            g_ranges[i].base = d->base;
            g_ranges[i].cap = cap;
            memcpy(g_ranges[i].name, d->name, sizeof d->name);
            break;
        }
    pthread_mutex_unlock(&g_lock);
    return NN_OK;
}

void sim_mem_close(sim_dev *d)
{
    if (!d->base)
        return;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < sizeof g_ranges / sizeof g_ranges[0]; i++)
        if (g_ranges[i].base == d->base)
            g_ranges[i].base = NULL;
    pthread_mutex_unlock(&g_lock);
    munmap(d->base, d->cap);
    munmap(d->mem, d->cap);
    free(d->blocks);
    d->base = d->mem = NULL;
    d->blocks = NULL;
    d->n_blocks = d->cap_blocks = 0;
}

int sim_mem_is_device(const void *p, char *owner, size_t cap)
{
    int found = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < sizeof g_ranges / sizeof g_ranges[0] && !found; i++) {
        const char *b = g_ranges[i].base;
        if (b && (const char *)p >= b && (const char *)p < b + g_ranges[i].cap) {
            found = 1;
            if (owner && cap)
                snprintf(owner, cap, "%s", g_ranges[i].name);
        }
    }
    pthread_mutex_unlock(&g_lock);
    return found;
}

/* makes the contents readable up to offset `end` */
static int commit(sim_dev *d, size_t end, nn_error *err)
{
    if (end <= d->committed)
        return NN_OK;
    size_t want = end - d->committed < SIM_COMMIT_STEP ? d->committed + SIM_COMMIT_STEP : end;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    want = (want + page - 1) / page * page;
    if (want > d->cap)
        want = d->cap;
    if (mprotect(d->mem, want, PROT_READ | PROT_WRITE) != 0)
        return nn_error_set(err, NN_ENOMEM, "%s: cannot commit %zu bytes of device memory: %s",
                            d->name, want, strerror(errno));
    d->committed = want;
    return NN_OK;
}

void *sim_mem_alloc(sim_dev *d, size_t bytes, size_t align, nn_error *err)
{
    if (!d->base) {
        nn_error_set(err, NN_EINVAL, "sim: alloc on a device that is not open");
        return NULL;
    }
    if (align < 64 || (align & (align - 1))) {
        nn_error_set(err, NN_EINVAL, "%s: alignment %zu is not a power of two >= 64", d->name,
                     align);
        return NULL;
    }
    if (bytes > d->cap) {
        nn_error_set(err, NN_ENOMEM, "%s: %zu bytes asked, more than the device's %zu "
                     "(NNTRAIN_SIM_MEMORY sets the size)", d->name, bytes, d->cap);
        return NULL;
    }
    size_t size = (bytes ? bytes + 63 : 64) / 64 * 64;
    /* first fit in the gaps between live blocks */
    size_t prev = 0, off = 0;
    int at = -1;
    for (int i = 0; i <= d->n_blocks; i++) {
        size_t start = (prev + align - 1) / align * align;
        size_t limit = i < d->n_blocks ? d->blocks[i].off : d->cap;
        if (start <= limit && limit - start >= size) {
            off = start;
            at = i;
            break;
        }
        if (i < d->n_blocks)
            prev = d->blocks[i].off + d->blocks[i].size;
    }
    if (at < 0) {
        nn_error_set(err, NN_ENOMEM, "%s: out of device memory: %zu bytes asked, %zu of %zu in "
                     "use (NNTRAIN_SIM_MEMORY sets the size)", d->name, bytes, d->in_use, d->cap);
        return NULL;
    }
    if (commit(d, off + size, err))
        return NULL;
    if (d->n_blocks == d->cap_blocks) {
        int nc = d->cap_blocks ? 2 * d->cap_blocks : 64;
        sim_block *nb = realloc(d->blocks, sizeof *nb * (size_t)nc);
        if (!nb) {
            nn_error_set(err, NN_ENOMEM, "%s: out of host memory for the allocation table",
                         d->name);
            return NULL;
        }
        d->blocks = nb;
        d->cap_blocks = nc;
    }
    memmove(d->blocks + at + 1, d->blocks + at, sizeof *d->blocks * (size_t)(d->n_blocks - at));
    d->blocks[at] = (sim_block){off, size};
    d->n_blocks++;
    d->in_use += size;
    if (d->in_use > d->peak)
        d->peak = d->in_use;
    return d->base + off;
}

/* index of the live block holding offset off, or -1 */
static int find_block(const sim_dev *d, size_t off)
{
    int lo = 0, hi = d->n_blocks - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const sim_block *b = &d->blocks[mid];
        if (off < b->off)
            hi = mid - 1;
        else if (off >= b->off + b->size)
            lo = mid + 1;
        else
            return mid;
    }
    return -1;
}

void sim_mem_free(sim_dev *d, void *p)
{
    if (!p || !d->base)
        return;
    sim_flush(d); /* a deferred copy may still target it */
    char *c = p;
    if (c < d->base || c >= d->base + d->cap)
        return;
    int i = find_block(d, (size_t)(c - d->base));
    if (i < 0 || d->blocks[i].off != (size_t)(c - d->base))
        return;
    sim_block b = d->blocks[i];
    memmove(d->blocks + i, d->blocks + i + 1, sizeof *d->blocks * (size_t)(d->n_blocks - i - 1));
    d->n_blocks--;
    d->in_use -= b.size;
    /* give large blocks' pages back to the host */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t lo = (b.off + page - 1) / page * page, hi = (b.off + b.size) / page * page;
    if (hi > lo && hi - lo >= ((size_t)1 << 20))
        madvise(d->mem + lo, hi - lo, MADV_DONTNEED);
}

void *sim_mem_bytes(sim_dev *d, const void *p, size_t bytes, const char *what, nn_error *err)
{
    const char *c = p;
    char owner[16];
    if (!p) {
        nn_error_set(err, NN_EINVAL, "%s: %s is a NULL pointer", d->name, what);
        return NULL;
    }
    if (c < d->base || c >= d->base + d->cap) {
        if (sim_mem_is_device(p, owner, sizeof owner))
            nn_error_set(err, NN_EINVAL, "%s: %s (%p) is memory of device %s, not of %s: "
                         "memory of one device is not valid on another", d->name, what, p,
                         owner, d->name);
        else
            nn_error_set(err, NN_EINVAL, "%s: %s (%p) is not device memory (host memory "
                         "given to a device kernel?)", d->name, what, p);
        return NULL;
    }
    size_t off = (size_t)(c - d->base);
    int i = find_block(d, off);
    if (i < 0) {
        nn_error_set(err, NN_EINVAL, "%s: %s (%p) is not inside a live allocation (freed, or "
                     "never allocated)", d->name, what, p);
        return NULL;
    }
    const sim_block *b = &d->blocks[i];
    if (bytes > b->off + b->size - off) {
        nn_error_set(err, NN_EINVAL, "%s: %s (%p, %zu bytes) runs %zu bytes past the end of "
                     "its %zu-byte allocation", d->name, what, p, bytes,
                     bytes - (b->off + b->size - off), b->size);
        return NULL;
    }
    return d->mem + off;
}

void sim_flush(sim_dev *d)
{
    for (int i = 0; i < d->n_queued; i++) {
        sim_queued_copy *q = &d->queue[i];
        memmove(q->dst, q->src, q->bytes);
    }
    d->n_queued = 0;
    d->done = d->issued;
}
