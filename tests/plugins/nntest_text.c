/* nntest_text.c: descriptors whose text or sizes a hostile author could use to forge or hide
 * lines of `nntrain plugins` or to make the host read far past a struct: control characters
 * in summary, version, license and a key's doc; a name longer than NN_PLUGIN_NAME_MAX; a
 * descriptor and a vtable struct_size of 1 GiB; an empty range. Next to one good descriptor
 * whose name is exactly NN_PLUGIN_NAME_MAX bytes. Its constructor prints a fake "ok" line to
 * stdout, which must never reach nntrain's output. Test fixture only: never installed. */
#include <stdio.h>

#include "fixture_layer.h"

__attribute__((constructor)) static void nntest_text_on_load(void)
{
    printf("ok      forged.so: layer forged 1.0.0 (device cpu)\n");
}

static const nn_layer_vtable vt = FIXTURE_LAYER_VTABLE;
static const nn_layer_vtable vt_huge = {
    .struct_size = 0x40000000u,
    .create = fixture_create,
    .destroy = fixture_destroy,
    .setup = fixture_setup,
    .forward = fixture_forward,
    .backward = fixture_backward,
};
static const nn_param_spec doc_lf[] = {
    {.name = "k", .type = NN_PARAM_INT, .def = "1", .doc = "a key\nok      forged.so"},
    {.name = NULL},
};
static const nn_param_spec empty_range[] = {
    {.name = "k", .type = NN_PARAM_INT, .def = "1", .range = "(1, 1)", .doc = "a key"},
    {.name = NULL},
};

#define TEXT_DESC(var, nm, ver, lic, sum, pars, vtab)                                      \
    static const nn_plugin_desc var = NN_DESCRIPTOR(                                       \
        .kind = NN_KIND_LAYER, .caps = NN_CAP_BACKWARD, .name = nm, .version = ver,        \
        .license = lic, .summary = sum, .params = pars, .vtable = &vtab)

TEXT_DESC(esc_summary, "nntest_esc_summary", "1.0.0", "MIT", "an \x1b[2Jescape", NULL, vt);
TEXT_DESC(cr_version, "nntest_cr_version", "1.0\r", "MIT", "a CR in the version", NULL, vt);
TEXT_DESC(lf_license, "nntest_lf_license", "1.0.0", "MIT\nok", "an LF in the license", NULL,
          vt);
TEXT_DESC(lf_doc, "nntest_lf_doc", "1.0.0", "MIT", "an LF in a key's doc", doc_lf, vt);
TEXT_DESC(empty, "nntest_empty_range", "1.0.0", "MIT", "a range no value fits", empty_range,
          vt);
TEXT_DESC(long_name, "nntest_long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "1.0.0", "MIT", "65 bytes of name", NULL, vt);
TEXT_DESC(max_name, "nntest_max_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "1.0.0", "MIT", "64 bytes of name: the longest there may be", NULL, vt);
TEXT_DESC(huge_vtable, "nntest_huge_vtable", "1.0.0", "MIT", "vtable struct_size 1 GiB", NULL,
          vt_huge);
static const nn_plugin_desc huge_desc = {
    .abi_major = NN_ABI_MAJOR, .abi_minor = NN_ABI_MINOR, .struct_size = 0x40000000u,
    .kind = NN_KIND_LAYER, .name = "nntest_huge_desc", .version = "1.0.0", .license = "MIT",
    .summary = "descriptor struct_size 1 GiB", .vtable = &vt};

NN_PLUGIN_EXPORT(&esc_summary, &cr_version, &lf_license, &lf_doc, &empty, &long_name,
                 &huge_vtable, &huge_desc, &max_name);
