/* test_sizes.c: the sizes a layer declares are checked before anything is allocated:
 * products that overflow, negative dimensions and tensors larger than the machine's memory
 * are refused with the layer, the tensor, its shape and the key behind the dimension. */
#include "helpers.h" /* first: it defines _GNU_SOURCE */

#include <stdint.h>

#include "core/sizes.h"

Test(sizes, shape_bytes_are_exact_or_refused_on_overflow)
{
    size_t b = 0;
    int64_t ok[] = {128, 784};
    cr_assert_eq(nn_shape_bytes(2, ok, 32, &b), 0);
    cr_assert_eq(b, (size_t)128 * 784 * 4);
    cr_assert_eq(nn_shape_bytes(0, NULL, 64, &b), 0); /* a scalar */
    cr_assert_eq(b, 8);
    int64_t zero[] = {0, 5};
    cr_assert_eq(nn_shape_bytes(2, zero, 32, &b), 0);
    cr_assert_eq(b, 0);
    int64_t wraps[] = {INT64_C(1) << 32, INT64_C(1) << 32}; /* 2^64 * 4 bytes */
    cr_assert_eq(nn_shape_bytes(2, wraps, 32, &b), -1);
    int64_t big[] = {INT64_MAX};
    cr_assert_eq(nn_shape_bytes(1, big, 8, &b), -1);
    int64_t neg[] = {3, -1};
    cr_assert_eq(nn_shape_bytes(2, neg, 32, &b), -1);
}

static nn_layer_setup setup_with_weight(int64_t rows, int64_t cols)
{
    nn_layer_setup s = {.struct_size = sizeof s};
    int64_t out[] = {8, rows};
    nn_tensor_describe(&s.output, NN_F32, 2, out);
    int64_t w[] = {rows, cols};
    nn_layer_add_param(&s, "weight", 2, w, NN_INIT_ZEROS, cols, rows, 0);
    return s;
}

Test(sizes, a_weight_beyond_memory_names_layer_shape_size_and_key)
{
    nn_layer_setup s = setup_with_weight(INT64_C(1) << 24, INT64_C(1) << 24);
    nn_kv kvs[] = {{"activation", "relu", "m.ini", 7}, {"units", "16777216", "m.ini", 8}};
    nn_error err = {0};
    cr_assert_eq(nn_layer_sizes_check(&s, "m.ini:6: [layer.fc]", "fc", "dense", kvs, 2, &err),
                 NN_ENOMEM);
    assert_has(err.msg, "m.ini:6: [layer.fc]: layer 'fc' (dense): parameter 'weight' of shape "
                        "[16777216, 16777216] needs 1.13 PB (1125899906842624 bytes)");
    assert_has(err.msg, "key 'units' = 16777216 at m.ini:8 sets it");
}

Test(sizes, a_product_that_overflows_is_refused_without_wrapping)
{
    nn_layer_setup s = setup_with_weight(INT64_C(1) << 40, INT64_C(1) << 40);
    int64_t small[] = {8, 4};
    nn_tensor_describe(&s.output, NN_F32, 2, small); /* only the weight is at fault */
    nn_kv kvs[] = {{"units", "1099511627776", "--set", 0}};
    nn_error err = {0};
    cr_assert_eq(nn_layer_sizes_check(&s, "[layer.fc]", "fc", "dense", kvs, 1, &err), NN_ENOMEM);
    assert_has(err.msg, "would hold more bytes than a 64-bit size can count");
    assert_has(err.msg, "key 'units' = 1099511627776 (--set) sets it");
}

Test(sizes, a_negative_dimension_is_a_shape_error)
{
    nn_layer_setup s = setup_with_weight(4, 3);
    s.params[0].shape[1] = -3;
    nn_error err = {0};
    cr_assert_eq(nn_layer_sizes_check(&s, "[layer.a]", "a", "weird", NULL, 0, &err), NN_ESHAPE);
    assert_has(err.msg, "parameter 'weight' with a negative dimension: [4, -3]");
}

Test(sizes, what_fits_passes)
{
    nn_layer_setup s = setup_with_weight(256, 784);
    nn_error err = {0};
    cr_assert_eq(nn_layer_sizes_check(&s, "[layer.a]", "a", "dense", NULL, 0, &err), NN_OK,
                 "%s", err.msg);
    cr_assert_eq(nn_total_bytes_check(1000, "x", "y", &err), NN_OK);
    cr_assert_eq(nn_total_bytes_check(SIZE_MAX / 2, "the layer outputs", "lower it", &err),
                 NN_ENOMEM);
    assert_has(err.msg, "the layer outputs need ");
    assert_has(err.msg, "; lower it");
}
