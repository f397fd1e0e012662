/* nntest_valid.c: a well-formed layer plugin whose schema uses every parameter type, so the
 * tests can check `nntrain plugins show`, parameter parsing and instance creation against
 * it. Test fixture only; it must stay valid, or every registry test loses its baseline. */
#include "fixture_layer.h"

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;

static const nn_param_spec params[] = {
    {.name = "units", .type = NN_PARAM_INT, .range = "[1, inf)", .required = 1,
     .doc = "number of output features"},
    {.name = "factor", .type = NN_PARAM_FLOAT, .def = "0.5", .range = "(0, 1]",
     .doc = "scale applied to the output"},
    {.name = "use_bias", .type = NN_PARAM_BOOL, .def = "true", .doc = "add a learned bias"},
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "fan_in", .choices = "fan_in|fan_out|avg",
     .doc = "which fan the initialisation scales by"},
    {.name = "kernel", .type = NN_PARAM_INT_LIST, .def = "3,3", .range = "[1, 64]",
     .doc = "kernel extent per spatial axis"},
    {.name = "weights", .type = NN_PARAM_FLOAT_LIST, .range = "[0, 1)",
     .doc = "per-class weights"},
    {.name = "tag", .type = NN_PARAM_STRING, .def = "", .doc = "free text kept with the layer"},
    {.name = NULL},
};

static const nn_plugin_desc desc = NN_DESCRIPTOR(
    .kind = NN_KIND_LAYER,
    .caps = NN_CAP_BACKWARD,
    .name = "nntest_valid",
    .version = "1.2.3",
    .license = "MIT",
    .summary = "scales its input by factor; used by the registry tests",
    .params = params,
    .vtable = &vt);

NN_PLUGIN_EXPORT(&desc);
