/* faulty_backend_pack.c: test fixture, the built sim pack (NNTEST_SIM_SO) with its backend
 * plugin wrapped so that it breaks the backend contract in the way the environment variable
 * NNTEST_BACKEND_FAULT names (read at each call; unset, the wrapper changes nothing):
 *   async_unordered: copy_async defers its copies to a queue of this wrapper that only copy,
 *                    sync, memset and event_wait run first: the pack's ops and kernels run
 *                    before them, against backend.h's ordering rule;
 *   open_segv:       open() dies of SIGSEGV;
 *   count_silent:    device_count() returns -5 and leaves the error message empty;
 *   add_overrun:     ops->add also writes the 4 bytes after y (a kernel grid one too large);
 *   add_input_overrun: ops->add also writes the 4 bytes after x, the input it only reads.
 * The layer, loss and optimizer plugins are sim's own. Test code; never installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/nntrain.h>

NN_EXPORT const nn_plugin_desc *nn_plugin_descriptors[32];

static nn_plugin_desc faulty_desc;
static nn_backend_vtable faulty;
static nn_device_ops faulty_ops;
static const nn_backend_vtable *real;

static int fault(const char *name)
{
    const char *f = getenv("NNTEST_BACKEND_FAULT");
    return f && strcmp(f, name) == 0;
}

/* the deferred copies (the tests open one device per process) */
typedef struct deferred {
    void *self, *dst;
    const void *src;
    size_t bytes;
    nn_copy_kind kind;
} deferred;
static deferred queue[64];
static int n_queued;

static int run_deferred(nn_error *err)
{
    int rc = NN_OK;
    for (int i = 0; i < n_queued && rc == NN_OK; i++)
        rc = real->copy(queue[i].self, queue[i].dst, queue[i].src, queue[i].bytes,
                        queue[i].kind, err);
    n_queued = 0;
    return rc;
}

static int faulty_open(void *self, int index, nn_error *err)
{
    if (fault("open_segv"))
        raise(SIGSEGV);
    return real->open(self, index, err);
}

static int faulty_device_count(void *self, nn_error *err)
{
    if (fault("count_silent"))
        return -5;
    return real->device_count(self, err);
}

static int faulty_copy_async(void *self, void *dst, const void *src, size_t bytes,
                             nn_copy_kind kind, void *event, nn_error *err)
{
    if (!fault("async_unordered"))
        return real->copy_async(self, dst, src, bytes, kind, event, err);
    if (n_queued == (int)(sizeof queue / sizeof queue[0]) && run_deferred(err) != NN_OK)
        return err->status;
    queue[n_queued++] = (deferred){self, dst, src, bytes, kind};
    return NN_OK;
}

static int faulty_copy(void *self, void *dst, const void *src, size_t bytes, nn_copy_kind kind,
                       nn_error *err)
{
    int rc = run_deferred(err);
    return rc ? rc : real->copy(self, dst, src, bytes, kind, err);
}

static int faulty_sync(void *self, nn_error *err)
{
    int rc = run_deferred(err);
    return rc ? rc : real->sync(self, err);
}

static int faulty_memset(void *self, void *dst, int value, size_t bytes, nn_error *err)
{
    int rc = run_deferred(err);
    return rc ? rc : real->memset(self, dst, value, bytes, err);
}

static int faulty_event_wait(void *self, void *event, nn_error *err)
{
    int rc = run_deferred(err);
    return rc ? rc : real->event_wait(self, event, err);
}

static int faulty_add(void *self, nn_tensor *y, const nn_tensor *x, nn_error *err)
{
    int rc = real->ops->add(self, y, x, err);
    if (rc || !(fault("add_overrun") || fault("add_input_overrun")))
        return rc;
    const nn_tensor *t = fault("add_overrun") ? y : x;
    return real->memset(self, (char *)t->dl.data + nn_tensor_nbytes(t), 0x11, 4, err);
}

__attribute__((constructor)) static void faulty_load(void)
{
    void *sim = dlopen(NNTEST_SIM_SO, RTLD_NOW | RTLD_LOCAL);
    const nn_plugin_desc *const *list = sim ? dlsym(sim, NN_PLUGIN_SYMBOL_NAME) : NULL;
    for (int i = 0, n = 0; list && list[i] && n < 31; i++) {
        nn_plugin_descriptors[n++] = list[i];
        if (list[i]->kind != NN_KIND_BACKEND)
            continue;
        real = list[i]->vtable;
        faulty = *real;
        faulty.open = faulty_open;
        faulty.device_count = faulty_device_count;
        faulty.copy_async = faulty_copy_async;
        faulty.copy = faulty_copy;
        faulty.sync = faulty_sync;
        faulty.memset = faulty_memset;
        faulty.event_wait = faulty_event_wait;
        faulty_ops = *real->ops;
        faulty_ops.add = faulty_add;
        faulty.ops = &faulty_ops;
        faulty_desc = *list[i];
        faulty_desc.vtable = &faulty;
        nn_plugin_descriptors[n - 1] = &faulty_desc;
    }
}
