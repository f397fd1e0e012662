/* alloc_count.c: interposes malloc and friends (glibc's __libc_* underneath) so that `plugins
 * test` can count the heap blocks a plugin allocates while a check watches, and the blocks
 * left behind. Outside a watched window it costs one relaxed load per call and writes nothing.
 * Under AddressSanitizer, which owns malloc, nothing is interposed and no counter exists. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#include "alloc_count.h"

#if defined(__SANITIZE_ADDRESS__)
#define NN_NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_NO_INTERPOSE 1
#endif
#endif

#ifdef NN_NO_INTERPOSE
const nn_alloc_counter *nn_alloc_counter_get(void)
{
    return NULL;
}
#else

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static long live_blocks, total, exempt;
static int counting, tracking;
static __thread int inside;
static void *first_site; /* return address that decided the first counted allocation */

/* Text ranges of the objects loaded when counting started, classified once (outside malloc). */
enum { OBJ_SYSTEM = 1, OBJ_DNNL, OBJ_OTHER };
typedef struct obj_range {
    uintptr_t lo, hi;
    int cls;
} obj_range;
static obj_range ranges[256];
static int n_ranges;

static int classify(const char *name)
{
    static const char *const sys[] = {"/libc.so", "/libstdc++.so", "/libgcc_s.so", "/libm.so",
                                      "/libgomp.so", "/ld-linux", "linux-vdso"};
    if (!name || !*name)
        return OBJ_SYSTEM; /* the executable: its malloc wrappers are these */
    if (strstr(name, "/libdnnl.so"))
        return OBJ_DNNL;
    for (size_t i = 0; i < sizeof sys / sizeof *sys; i++)
        if (strstr(name, sys[i]))
            return OBJ_SYSTEM;
    return OBJ_OTHER;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    int cls = classify(info->dlpi_name);
    for (int i = 0; i < info->dlpi_phnum && n_ranges < 256; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        ranges[n_ranges++] = (obj_range){lo, lo + ph->p_memsz, cls};
    }
    return 0;
}

static int class_of(void *pc)
{
    uintptr_t a = (uintptr_t)pc;
    for (int i = 0; i < n_ranges; i++)
        if (a >= ranges[i].lo && a < ranges[i].hi)
            return ranges[i].cls;
    return OBJ_OTHER;
}

/* Who asked: the first frame outside the allocator's own layers (libc, libstdc++, OpenMP, this
 * executable). oneDNN 2.6 allocates a little in each primitive execution: that is reported
 * apart (DESIGN.md), everything else counts against the plugin. */
static void note_alloc(void)
{
    if (__atomic_load_n(&tracking, __ATOMIC_RELAXED))
        __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&counting, __ATOMIC_RELAXED) || inside)
        return;
    inside = 1;
    void *bt[16];
    int n = backtrace(bt, 16), cls = OBJ_OTHER;
    void *site = NULL;
    for (int i = 1; i < n; i++) {
        cls = class_of(bt[i]);
        if (cls != OBJ_SYSTEM) {
            site = bt[i];
            break;
        }
    }
    __atomic_add_fetch(&total, 1, __ATOMIC_RELAXED);
    if (cls == OBJ_DNNL)
        __atomic_add_fetch(&exempt, 1, __ATOMIC_RELAXED);
    else if (!first_site)
        first_site = site ? site : bt[n > 1 ? 1 : 0];
    inside = 0;
}

static void note_free(void)
{
    if (__atomic_load_n(&tracking, __ATOMIC_RELAXED))
        __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    if (p)
        note_alloc();
    return p;
}

void *calloc(size_t n, size_t m)
{
    void *p = __libc_calloc(n, m);
    if (p)
        note_alloc();
    return p;
}

void *realloc(void *q, size_t n)
{
    void *p = __libc_realloc(q, n);
    if (!q && p)
        note_alloc();
    else if (q && n == 0)
        note_free();
    else if (q && p && __atomic_load_n(&counting, __ATOMIC_RELAXED)) {
        note_alloc(); /* growing a block in a step is an allocation too */
        note_free();
    }
    return p;
}

void *aligned_alloc(size_t a, size_t n)
{
    void *p = __libc_memalign(a, n);
    if (p)
        note_alloc();
    return p;
}

void *memalign(size_t a, size_t n)
{
    return aligned_alloc(a, n);
}

int posix_memalign(void **out, size_t a, size_t n)
{
    *out = __libc_memalign(a, n);
    if (!*out)
        return 12; /* ENOMEM */
    note_alloc();
    return 0;
}

void free(void *p)
{
    if (p)
        note_free();
    __libc_free(p);
}

static void start(void)
{
    void *warm[2];
    backtrace(warm, 2); /* its first call loads the unwinder, which allocates */
    n_ranges = 0;
    dl_iterate_phdr(add_object, NULL);
    __atomic_store_n(&total, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&exempt, 0, __ATOMIC_RELAXED);
    first_site = NULL;
    __atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
}

static void stop(long *t, long *e, char *site, size_t cap)
{
    __atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
    *t = __atomic_load_n(&total, __ATOMIC_RELAXED);
    *e = __atomic_load_n(&exempt, __ATOMIC_RELAXED);
    if (!site || !cap)
        return;
    site[0] = 0;
    Dl_info di;
    if (first_site && dladdr(first_site, &di) && di.dli_fname) {
        const char *base = strrchr(di.dli_fname, '/');
        if (di.dli_sname)
            snprintf(site, cap, "%s %s+0x%lx", base ? base + 1 : di.dli_fname, di.dli_sname,
                     (unsigned long)((char *)first_site - (char *)di.dli_saddr));
        else
            snprintf(site, cap, "%s+0x%lx", base ? base + 1 : di.dli_fname,
                     (unsigned long)((char *)first_site - (char *)di.dli_fbase));
    } else if (first_site) {
        snprintf(site, cap, "%p", first_site);
    }
}

static void track(int on)
{
    __atomic_store_n(&tracking, on, __ATOMIC_SEQ_CST);
}

static long live(void)
{
    return __atomic_load_n(&live_blocks, __ATOMIC_RELAXED);
}

static const nn_alloc_counter counter = {start, stop, track, live};

const nn_alloc_counter *nn_alloc_counter_get(void)
{
    return &counter;
}
#endif
