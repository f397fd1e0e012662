/* nntest_extrasym.c: a working layer whose file also exports a second descriptor (and a
 * helper function) by mistake: `plugins check` and `plugins test` must flag the file. */
#include <stdlib.h>

#include <nntrain/nntrain.h>

static int id_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    (void)err;
    *self = malloc(1);
    return *self ? NN_OK : NN_ENOMEM;
}

static void id_destroy(void *self)
{
    free(self);
}

static int id_setup(void *self, nn_layer_setup *s, nn_error *err)
{
    (void)self;
    (void)err;
    nn_tensor_describe(&s->output, NN_F32, s->inputs[0]->dl.ndim, s->inputs[0]->shape);
    return NN_OK;
}

/* exported by mistake: default visibility */
__attribute__((visibility("default"))) int extrasym_helper(const nn_layer_io *io)
{
    float *y = NN_F32P(io->output);
    const float *x = NN_F32P(io->inputs[0]);
    for (int64_t i = 0, n = nn_tensor_numel(io->output); i < n; i++)
        y[i] = x[i];
    return NN_OK;
}

static int id_forward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return extrasym_helper(io);
}

static const nn_layer_vtable id_vt = {.struct_size = sizeof(nn_layer_vtable),
                                      .create = id_create, .destroy = id_destroy,
                                      .setup = id_setup, .forward = id_forward};

/* the author meant to register this one too, but listed it in no NN_PLUGIN_EXPORT */
__attribute__((visibility("default"))) const nn_plugin_desc extrasym_second = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "extrasym_second", .version = "1.0.0", .license = "MIT",
    .summary = "never loaded", .vtable = &id_vt);

static const nn_plugin_desc id_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "extrasym", .version = "1.0.0", .license = "MIT",
    .summary = "identity layer from a file that exports too much", .vtable = &id_vt);

NN_PLUGIN_EXPORT(&id_desc);
