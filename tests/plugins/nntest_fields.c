/* nntest_fields.c: one file with several malformed descriptors, each missing one required
 * field (name, version, license, summary, vtable) or carrying a bad schema, next to one good
 * descriptor. Each bad one must be its own problem; the good one must still load. */
#include "fixture_layer.h"

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;
static const nn_layer_vtable vt_no_forward = {
    .struct_size = sizeof(nn_layer_vtable),
    .create = fixture_create,
    .destroy = fixture_destroy,
    .setup = fixture_setup,
};
static const nn_param_spec undocumented[] = {
    {.name = "units", .type = NN_PARAM_INT, .def = "1"},
    {.name = NULL},
};

static const nn_plugin_desc no_name = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .version = "1.0.0", .license = "MIT", .summary = "no name",
    .vtable = &vt);
static const nn_plugin_desc no_version = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_no_version", .license = "MIT",
    .summary = "no version", .vtable = &vt);
static const nn_plugin_desc no_license = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_no_license", .version = "1.0.0",
    .summary = "no license", .vtable = &vt);
static const nn_plugin_desc no_summary = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_no_summary", .version = "1.0.0", .license = "MIT",
    .vtable = &vt);
static const nn_plugin_desc no_vtable = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_no_vtable", .version = "1.0.0", .license = "MIT",
    .summary = "no vtable");
static const nn_plugin_desc no_forward = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_no_forward", .version = "1.0.0", .license = "MIT",
    .summary = "vtable without forward", .vtable = &vt_no_forward);
static const nn_plugin_desc bad_schema = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_bad_schema", .version = "1.0.0", .license = "MIT",
    .summary = "a parameter without doc", .params = undocumented, .vtable = &vt);
static const nn_plugin_desc good = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER, .name = "nntest_fields_ok", .version = "1.0.0", .license = "MIT",
    .summary = "the one good descriptor of the file", .vtable = &vt);

NN_PLUGIN_EXPORT(&no_name, &no_version, &no_license, &no_summary, &no_vtable, &no_forward,
                 &bad_schema, &good);
