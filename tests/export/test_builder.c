/* test_builder.c: the node builder of <nntrain/export.h> as a plugin meets it: value names
 * made unique, nodes that read what nothing wrote or write a value twice refused with a
 * sentence naming the layer, the first failure kept while later calls do nothing, opset
 * differences (ReduceMean's axes), and what the encoder leaves out (Identity). */
#include <criterion/criterion.h>
#include <string.h>

#include "export_internal.h"

static nn_export *x;

static void fresh(int opset)
{
    x = nn_export_new(NN_EXPORT_ONNX, opset);
    cr_assert_not_null(x);
    nn_export_scope(x, NULL, NULL);
    cr_assert_not_null(nn_export_claim(x, "input", 1));
    cr_assert_not_null(nn_export_claim(x, "fc", 0));
    nn_export_scope(x, "layer", "fc");
}

static void done(void) { nn_export_free(x); }

TestSuite(builder, .fini = done);

/* the encoded graph contains `s` (a name, an operator, an attribute) */
static int encoded_has(const char *s, int n_keep, const char *const *keep)
{
    nn_pb_buf g = {0};
    nn_export_encode(x, &g, n_keep, keep);
    int found = 0;
    for (size_t i = 0; i + strlen(s) <= g.len && !found; i++)
        found = memcmp(g.p + i, s, strlen(s)) == 0;
    nn_pb_free(&g);
    return found;
}

Test(builder, value_names_are_scoped_and_unique)
{
    fresh(17);
    const char *a = nn_export_value(x, "h"), *b = nn_export_value(x, "h");
    cr_assert_str_eq(a, "fc.h");
    cr_assert_str_eq(b, "fc.h_1");
    cr_assert_eq(nn_export_status(x, NULL), NN_OK);
}

Test(builder, reading_an_unwritten_value_fails_naming_the_layer)
{
    fresh(17);
    const char *h = nn_export_value(x, "h");
    cr_assert_lt(nn_export_op1(x, "Relu", "nosuch", h), 0);
    nn_error err = {0};
    cr_assert_eq(nn_export_status(x, &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "layer 'fc': node Relu reads 'nosuch' (input 0), which is neither "
                              "the layer's input, a constant nor a value from nn_export_value()");
    /* later calls do nothing and keep the first failure */
    cr_assert_lt(nn_export_op1(x, "Relu", "input", h), 0);
    cr_assert_null(nn_export_value(x, "g"));
    nn_export_status(x, &err);
    cr_assert(strstr(err.msg, "'nosuch'"));
}

Test(builder, a_value_is_written_once_and_in_order)
{
    fresh(17);
    const char *h = nn_export_value(x, "h"), *g = nn_export_value(x, "g");
    cr_assert_lt(nn_export_op1(x, "Relu", g, h), 0, "read before any node wrote it");
    nn_error err = {0};
    nn_export_status(x, &err);
    cr_assert(strstr(err.msg, "node Relu reads 'fc.g' (input 0), which no node has written yet"),
              "%s", err.msg);
    done();
    fresh(17);
    h = nn_export_value(x, "h");
    cr_assert_geq(nn_export_op1(x, "Relu", "input", h), 0);
    cr_assert_lt(nn_export_op1(x, "Tanh", "input", h), 0);
    nn_export_status(x, &err);
    cr_assert(strstr(err.msg, "node Tanh writes 'fc.h' (output 0), which is already written"),
              "%s", err.msg);
}

Test(builder, unknown_activations_are_refused)
{
    fresh(17);
    cr_assert_eq(nn_export_activation(x, "squish", 0, NULL, "input", "fc"), NN_ENOTSUP);
    nn_error err = {0};
    nn_export_status(x, &err);
    cr_assert_str_eq(err.msg, "layer 'fc': no ONNX form is known for the activation 'squish'");
}

Test(builder, reduce_axes_follow_the_opset)
{
    const int64_t axes[1] = {1};
    fresh(17);
    cr_assert_geq(nn_export_reduce(x, "ReduceMean", 1, axes, 0, "input", "fc"), 0);
    cr_assert(encoded_has("axes", 0, NULL), "opset 17: axes is an attribute");
    cr_assert(!encoded_has("fc.axes", 0, NULL));
    done();
    fresh(18);
    cr_assert_geq(nn_export_reduce(x, "ReduceMean", 1, axes, 0, "input", "fc"), 0);
    cr_assert_eq(nn_export_status(x, NULL), NN_OK);
    cr_assert(encoded_has("fc.axes", 0, NULL), "opset 18: axes is a constant input");
}

Test(builder, identity_nodes_are_left_out_unless_they_write_an_output)
{
    fresh(17);
    const char *h = nn_export_value(x, "h");
    cr_assert_geq(nn_export_op1(x, "Identity", "input", h), 0);
    cr_assert_geq(nn_export_op1(x, "Relu", h, "fc"), 0);
    const char *keep[1] = {"fc"};
    cr_assert(!encoded_has("Identity", 1, keep));
    cr_assert(encoded_has("Relu", 1, keep));
    cr_assert(!encoded_has("fc.h", 1, keep), "Relu still reads the Identity's output");
    done();
    fresh(17);
    cr_assert_geq(nn_export_op1(x, "Identity", "input", "fc"), 0);
    cr_assert(encoded_has("Identity", 1, keep), "a graph output's Identity is kept");
}
