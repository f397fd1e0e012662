/* nntest_badtol.c: layers y = x * x whose backward is 1% off, each with a test spec whose
 * tolerances would hide that: an infinite atol, an infinite rtol (both refused), and a valid
 * but loosened rtol (taken, and the table must say it was loosened). Test code; never
 * installed. */
#include <math.h>
#include <stdlib.h>

#include "nntest_square.h"

/* dx = 2.02 x dy: 1% too large */
static int off_backward(void *self, const nn_layer_io *io, nn_error *err)
{
    (void)self;
    (void)err;
    return sq_backward_times(io, 2.02f);
}

static const nn_layer_vtable off_vt = {
    .struct_size = sizeof(nn_layer_vtable), .create = one_create, .destroy = one_destroy,
    .setup = sq_setup, .forward = sq_forward, .backward = off_backward};
static const nn_test_case cases[] = {{.inputs = "2x3 f32 [0.5, 2]"}};

#define TOL_LAYER(NAME, RTOL, ATOL, SUMMARY)                                                \
    static const nn_test_spec NAME##_spec = {.struct_size = sizeof(nn_test_spec),          \
                                             .n_cases = 1, .cases = cases, .rtol = RTOL,   \
                                             .atol = ATOL};                                \
    static const nn_plugin_desc NAME##_desc = NN_DESCRIPTOR(                               \
        .kind = NN_KIND_LAYER, .name = #NAME, .version = "1.0.0", .license = "MIT",       \
        .summary = SUMMARY, .caps = NN_CAP_BACKWARD, .vtable = &off_vt,                    \
        .test = &NAME##_spec)

TOL_LAYER(tol_atol_inf, 0, INFINITY, "1% off, hidden by atol = inf");
TOL_LAYER(tol_atol_big, 0, 1e9, "1% off, hidden by atol = 1e9");
TOL_LAYER(tol_rtol_inf, INFINITY, 0, "1% off, hidden by rtol = inf");
TOL_LAYER(tol_loose, 0.05, 1e-4, "1% off, within a loosened rtol of 5%");

NN_PLUGIN_EXPORT(&tol_atol_inf_desc, &tol_atol_big_desc, &tol_rtol_inf_desc, &tol_loose_desc);
