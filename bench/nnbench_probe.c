/* nnbench_probe.c: the logger that bench_train adds to the model it trains. It hands every
 * event to nnbench_event(), which bench_train exports, and does nothing else: the measuring
 * lives in bench_train.c. Loaded anywhere else, it refuses to open with a sentence saying so.
 * Built a second time as the test fixture nntest_events (tests/plugins/meson.build), with
 * PROBE_NAME and PROBE_SYMBOL naming that logger and the function it calls. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <nntrain/logger.h>
#include <nntrain/plugin.h>

#ifndef PROBE_NAME
#define PROBE_NAME "nnbench_probe"
#define PROBE_SYMBOL "nnbench_event"
#define PROBE_SUMMARY "bench_train's measuring hook (only works inside bench/bench_train)"
#endif

typedef void (*event_fn)(const nn_event *ev);

typedef struct probe {
    event_fn fn;
} probe;

static int probe_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    probe *x = calloc(1, sizeof *x);
    if (!x)
        return nn_error_set(err, NN_ENOMEM, "logger '" PROBE_NAME "': out of memory");
    *self = x;
    return NN_OK;
}

static void probe_destroy(void *self)
{
    free(self);
}

static int probe_open(void *self, const nn_logger_open *o, nn_error *err)
{
    (void)o;
    probe *x = self;
    void *sym = dlsym(RTLD_DEFAULT, PROBE_SYMBOL);
    if (!sym)
        return nn_error_set(err, NN_ENOTSUP, "logger '" PROBE_NAME "' only works in a "
                            "process that exports " PROBE_SYMBOL "() (" PROBE_SUMMARY ")");
    memcpy(&x->fn, &sym, sizeof x->fn); /* -Wpedantic: object to function pointer */
    return NN_OK;
}

static int probe_event(void *self, const nn_event *ev, nn_error *err)
{
    (void)err;
    ((probe *)self)->fn(ev);
    return NN_OK;
}

static const nn_param_spec probe_params[] = {{.name = NULL}};

static const nn_logger_vtable probe_vtable = {
    .struct_size = sizeof(nn_logger_vtable),
    .create = probe_create,
    .destroy = probe_destroy,
    .open = probe_open,
    .event = probe_event,
};

static const nn_plugin_desc probe_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOGGER, .name = PROBE_NAME, .version = "1.0.0", .license = "MIT",
    .summary = PROBE_SUMMARY,
    .params = probe_params, .vtable = &probe_vtable);

NN_PLUGIN_EXPORT(&probe_desc);
