/* registry_desc.c: what a plugin descriptor must hold before the registry takes it: a name
 * and device of [a-z0-9_], a kind, an ABI this core speaks, a vtable as large as its ABI's
 * with every required slot, a valid parameter schema. It reads the descriptor only: no
 * plugin function runs here. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "nntrain/nntrain.h"
#include "params_internal.h"
#include "registry_desc.h"

int nn_desc_valid_name(const char *s)
{
    if (!s || !*s || strnlen(s, NN_PLUGIN_NAME_MAX + 1) > NN_PLUGIN_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Size of the vtable of ABI 0.1 for each kind, up to its reserved tail. */
static size_t min_vtable_size(int kind)
{
    switch (kind) {
    case NN_KIND_LAYER: return offsetof(nn_layer_vtable, export_as); /* ABI 0.5 */
    case NN_KIND_LOSS: return offsetof(nn_loss_vtable, reserved);
    case NN_KIND_OPTIMIZER: return offsetof(nn_optimizer_vtable, reserved);
    case NN_KIND_SCHEDULER: return offsetof(nn_scheduler_vtable, reserved);
    case NN_KIND_DATASET: return offsetof(nn_dataset_vtable, reserved);
    case NN_KIND_TRANSFORM: return offsetof(nn_transform_vtable, export_as); /* ABI 0.5 */
    case NN_KIND_LOGGER: return offsetof(nn_logger_vtable, reserved);
    case NN_KIND_BACKEND: return offsetof(nn_backend_vtable, device_count); /* ABI 0.3 */
    case NN_KIND_COMMUNICATOR: return offsetof(nn_communicator_vtable, reserved);
    }
    return 0;
}

/* The slots each kind cannot do without; NULL return = fine, else the slot's name. */
static const char *missing_slot(const nn_plugin_desc *d)
{
    const void *v = d->vtable;
    switch (d->kind) {
    case NN_KIND_LAYER: {
        const nn_layer_vtable *t = v;
        if (!t->setup) return "setup";
        if (!t->forward) return "forward";
        if ((d->caps & NN_CAP_BACKWARD) && !t->backward) return "backward";
        break;
    }
    case NN_KIND_LOSS: {
        const nn_loss_vtable *t = v;
        if (!t->setup) return "setup";
        if (!t->forward) return "forward";
        break;
    }
    case NN_KIND_OPTIMIZER: {
        const nn_optimizer_vtable *t = v;
        if (!t->setup) return "setup";
        if (!t->step) return "step";
        break;
    }
    case NN_KIND_SCHEDULER: {
        const nn_scheduler_vtable *t = v;
        if (!t->start) return "start";
        if (!t->step) return "step";
        if ((d->caps & NN_CAP_STATEFUL) && (!t->state_save || !t->state_load))
            return "state_save/state_load";
        break;
    }
    case NN_KIND_DATASET: {
        const nn_dataset_vtable *t = v;
        if (!t->open) return "open";
        if (!t->get) return "get";
        break;
    }
    case NN_KIND_TRANSFORM: {
        const nn_transform_vtable *t = v;
        /* ABI 0.5: a batch transform has apply_batch instead of apply */
        int batch = t->struct_size > offsetof(nn_transform_vtable, apply_batch) &&
                    t->apply_batch;
        if (!t->setup) return "setup";
        if (!t->apply && !batch) return "apply (or apply_batch, ABI 0.5)";
        if ((d->caps & NN_CAP_STATEFUL) && (!t->state_save || !t->state_load))
            return "state_save/state_load";
        break;
    }
    case NN_KIND_LOGGER: {
        const nn_logger_vtable *t = v;
        if (!t->open) return "open";
        if (!t->event) return "event";
        break;
    }
    case NN_KIND_BACKEND: {
        const nn_backend_vtable *t = v;
        if (!t->open) return "open";
        if (!t->alloc) return "alloc";
        if (!t->free) return "free";
        if (!t->copy) return "copy";
        if (!t->sync) return "sync";
        if (d->abi_minor >= 4 && t->struct_size >= NN_BACKEND_VTABLE_SIZE_0_3) {
            if (!t->device_count) return "device_count";
            if (!t->memset) return "memset";
            if (!t->ops) return "ops";
            if (t->copy_async && (!t->event_new || !t->event_wait || !t->event_free))
                return "event_new/event_wait/event_free (required with copy_async)";
        }
        break;
    }
    case NN_KIND_COMMUNICATOR: {
        const nn_communicator_vtable *t = v;
        if (!t->init) return "init";
        if (!t->rank) return "rank";
        if (!t->size) return "size";
        if (!t->allreduce) return "allreduce";
        if (!t->broadcast) return "broadcast";
        if (!t->barrier) return "barrier";
        if (!t->test) return "test";
        if (!t->abort) return "abort";
        break;
    }
    }
    return NULL;
}

/* A backend adds a device type: never "cpu", which the stock CPU plugins serve (its kernels
 * would collide with theirs). Its device ops table, from ABI 0.4 on, is large enough for the
 * slots its ABI requires (0.4: add .. count_correct; host_alloc/host_free are optional), each
 * of them set: the core calls them without checking, and would read past a short table. */
static int validate_backend(const nn_plugin_desc *d, nn_error *err)
{
    if (!d->device || strcmp(d->device, "cpu") == 0)
        return nn_error_set(err, NN_EABI, "backend '%s': device '%s' is the host, which the CPU "
                            "plugins serve; a backend names the device type it adds (.device = "
                            "\"mydev\")", d->name, d->device ? d->device : "cpu (the default)");
    const nn_backend_vtable *t = d->vtable;
    if (d->abi_minor < 4 || t->struct_size < NN_BACKEND_VTABLE_SIZE_0_3)
        return NN_OK; /* ABI 0.3: listed, refused for training by nn_dev_open */
    const nn_device_ops *o = t->ops;
    const size_t need = offsetof(nn_device_ops, host_alloc);
    if (o->struct_size < need)
        return nn_error_set(err, NN_EABI, "backend '%s': ops struct_size %u is smaller than "
                            "ABI %u.%u's %zu (add .. count_correct are required)", d->name,
                            o->struct_size, d->abi_major, d->abi_minor, need);
    const char *slot = !o->add              ? "add"
                       : !o->scale          ? "scale"
                       : !o->clamp          ? "clamp"
                       : !o->norm_acc       ? "norm_acc"
                       : !o->find_nonfinite ? "find_nonfinite"
                       : !o->count_correct  ? "count_correct"
                                            : NULL;
    if (slot)
        return nn_error_set(err, NN_EABI, "backend '%s': ops slot '%s' is missing (backend.h: "
                            "every device math slot is required)", d->name, slot);
    return NN_OK;
}

/* Validates one descriptor without calling into the plugin. */
int nn_desc_validate(const nn_plugin_desc *d, nn_error *err)
{
    if (d->abi_major != NN_ABI_MAJOR)
        return nn_error_set(err, NN_EABI,
                            "ABI mismatch: plugin was built for ABI %u.%u, this nntrain "
                            "speaks ABI %d.%d (major versions must be equal); rebuild the plugin",
                            d->abi_major, d->abi_minor, NN_ABI_MAJOR, NN_ABI_MINOR);
    if (d->abi_minor > NN_ABI_MINOR)
        return nn_error_set(err, NN_EABI,
                            "ABI mismatch: plugin needs ABI %u.%u, this nntrain speaks only up "
                            "to %d.%d; upgrade nntrain",
                            d->abi_major, d->abi_minor, NN_ABI_MAJOR, NN_ABI_MINOR);
    if (d->struct_size < offsetof(nn_plugin_desc, reserved))
        return nn_error_set(err, NN_EABI,
                            "descriptor struct_size %u is smaller than ABI %d.%d's %zu",
                            d->struct_size, NN_ABI_MAJOR, NN_ABI_MINOR,
                            offsetof(nn_plugin_desc, reserved));
    if (d->struct_size > NN_STRUCT_SIZE_MAX)
        return nn_error_set(err, NN_EABI, "descriptor struct_size %u is larger than any ABI's "
                            "descriptor (at most %d bytes): a corrupt descriptor", d->struct_size,
                            NN_STRUCT_SIZE_MAX);
    if (d->kind <= 0 || d->kind >= NN_KIND_COUNT_)
        return nn_error_set(err, NN_EABI, "descriptor has unknown kind %d", d->kind);
    if (!nn_desc_valid_name(d->name)) {
        char shown[NN_PLUGIN_NAME_MAX + 8];
        if (!d->name)
            return nn_error_set(err, NN_EABI, "descriptor name (NULL) is missing");
        nn_text_escape(d->name, shown, sizeof shown, 0);
        return nn_error_set(err, NN_EABI, "descriptor name '%s' (%zu bytes) is missing or not "
                            "[a-z0-9_]{1,%d}", shown, strlen(d->name), NN_PLUGIN_NAME_MAX);
    }
    const char *req[] = {"version", "license", "summary"};
    const char *val[] = {d->version, d->license, d->summary};
    for (int i = 0; i < 3; i++) {
        if (!val[i] || !*val[i])
            return nn_error_set(err, NN_EABI, "%s '%s': required field '%s' is missing",
                                nn_kind_name(d->kind), d->name, req[i]);
        nn_error terr = {0};
        if (nn_text_line_check(req[i], val[i], &terr) != NN_OK)
            return nn_error_set(err, NN_EABI, "%s '%s': %s", nn_kind_name(d->kind), d->name,
                                terr.msg);
    }
    if (d->device && !nn_desc_valid_name(d->device)) {
        char shown[NN_PLUGIN_NAME_MAX + 8];
        nn_text_escape(d->device, shown, sizeof shown, 0);
        return nn_error_set(err, NN_EABI, "%s '%s': device '%s' is not [a-z0-9_]{1,%d}",
                            nn_kind_name(d->kind), d->name, shown, NN_PLUGIN_NAME_MAX);
    }
    if (!d->vtable)
        return nn_error_set(err, NN_EABI, "%s '%s': required field 'vtable' is missing",
                            nn_kind_name(d->kind), d->name);
    const nn_vtable_common *c = d->vtable;
    if (c->struct_size > NN_STRUCT_SIZE_MAX)
        return nn_error_set(err, NN_EABI, "%s '%s': vtable struct_size %u is larger than any "
                            "ABI's vtable (at most %d bytes): a corrupt descriptor",
                            nn_kind_name(d->kind), d->name, c->struct_size, NN_STRUCT_SIZE_MAX);
    if (c->struct_size < min_vtable_size(d->kind))
        return nn_error_set(err, NN_EABI, "%s '%s': vtable struct_size %u is smaller than "
                            "ABI %d.%d's %zu", nn_kind_name(d->kind), d->name, c->struct_size,
                            NN_ABI_MAJOR, NN_ABI_MINOR, min_vtable_size(d->kind));
    if (!c->create || !c->destroy)
        return nn_error_set(err, NN_EABI, "%s '%s': vtable slot '%s' is missing",
                            nn_kind_name(d->kind), d->name, c->create ? "destroy" : "create");
    const char *slot = missing_slot(d);
    if (slot)
        return nn_error_set(err, NN_EABI, "%s '%s': vtable slot '%s' is missing",
                            nn_kind_name(d->kind), d->name, slot);
    int rc = d->kind == NN_KIND_BACKEND ? validate_backend(d, err) : NN_OK;
    if (rc)
        return rc;
    nn_error serr = {0};
    if (nn_schema_validate(d->params, &serr) != NN_OK)
        return nn_error_set(err, NN_EABI, "%s '%s': %s", nn_kind_name(d->kind), d->name,
                            serr.msg);
    return NN_OK;
}
