/* nntest_comm_broken.c: a communicator without allreduce, as a plugin author might ship by
 * mistake. The registry must refuse it by its descriptor alone, naming the slot. Test fixture. */
#include <nntrain/communicator.h>

static int nop_create(const nn_params *p, void **self, nn_error *err)
{
    (void)p;
    (void)err;
    *self = NULL;
    return NN_OK;
}
static void nop_destroy(void *self) { (void)self; }
static int nop_init(void *self, nn_error *err)
{
    (void)self;
    (void)err;
    return NN_OK;
}
static int nop_rank(void *self)
{
    (void)self;
    return 0;
}

static const nn_communicator_vtable broken_vtable = {
    .struct_size = sizeof(nn_communicator_vtable),
    .create = nop_create,
    .destroy = nop_destroy,
    .init = nop_init,
    .rank = nop_rank,
    .size = nop_rank,
};

static const nn_plugin_desc broken_desc = NN_DESCRIPTOR(
    .kind = NN_KIND_COMMUNICATOR, .name = "broken_comm", .version = "0.1.0", .license = "MIT",
    .summary = "a communicator that forgot its collectives", .vtable = &broken_vtable);
NN_PLUGIN_EXPORT(&broken_desc);
