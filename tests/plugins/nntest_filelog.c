/* nntest_filelog.c: a logger as a hurried third party writes one: it appends a line to
 * run_dir/PATH at open and at each event, with no check of its own on PATH. The core's checks
 * of a logger's "path" (nn_loggers_open) are all that keep it off the run's own files:
 * tests/loggers/test_logger_params.c. Test fixture only: never installed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include <nntrain/logger.h>
#include <nntrain/plugin.h>

typedef struct filelog {
    char path_key[512];
    FILE *f;
} filelog;

static int fl_create(const nn_params *params, void **self, nn_error *err)
{
    filelog *l = calloc(1, sizeof *l);
    if (!l)
        return nn_error_set(err, NN_ENOMEM, "out of memory");
    snprintf(l->path_key, sizeof l->path_key, "%s", nn_params_str(params, "path"));
    *self = l;
    return NN_OK;
}

static void fl_destroy(void *self)
{
    filelog *l = self;
    if (l->f)
        fclose(l->f);
    free(l);
}

static int fl_open(void *self, const nn_logger_open *o, nn_error *err)
{
    filelog *l = self;
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", o->run_dir, l->path_key);
    if (!(l->f = fopen(path, "a")))
        return nn_error_set(err, NN_EIO, "cannot open '%s'", path);
    fputs("open\n", l->f);
    return NN_OK;
}

static int fl_event(void *self, const nn_event *ev, nn_error *err)
{
    (void)err;
    filelog *l = self;
    fprintf(l->f, "event %d\n", (int)ev->kind);
    return NN_OK;
}

static const nn_param_spec fl_params[] = {
    {.name = "path", .type = NN_PARAM_STRING, .def = "naive.log", .doc = "the file it appends to"},
    {.name = NULL},
};

static const nn_logger_vtable fl_vt = {
    .struct_size = sizeof(nn_logger_vtable),
    .create = fl_create,
    .destroy = fl_destroy,
    .open = fl_open,
    .event = fl_event,
};

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LOGGER, .name = "nntest_filelog", .version = "1.0.0", .license = "MIT",
    .summary = "test fixture: appends to its path with no check of its own",
    .params = fl_params, .vtable = &fl_vt);

NN_PLUGIN_EXPORT(&desc);
