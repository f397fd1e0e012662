/* test_params.c: parameter values parsed against a schema (every error class names the key,
 * the value, file:line and what was expected; defaults; bool spellings; lists) and the
 * checks a plugin's schema itself must pass before the registry accepts it. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "params_internal.h"

#define assert_has(text, needle)                                                        \
    cr_assert(strstr((text), (needle)), "expected to find \"%s\" in:\n%s", (needle), (text))

static const nn_param_spec schema[] = {
    {.name = "units", .type = NN_PARAM_INT, .range = "[1, inf)", .required = 1,
     .doc = "number of output features"},
    {.name = "rate", .type = NN_PARAM_FLOAT, .def = "0.5", .range = "[0, 1)",
     .doc = "probability of dropping"},
    {.name = "factor", .type = NN_PARAM_FLOAT, .def = "1", .range = "(0, 1]",
     .doc = "scale"},
    {.name = "use_bias", .type = NN_PARAM_BOOL, .def = "true", .doc = "add a bias"},
    {.name = "mode", .type = NN_PARAM_ENUM, .def = "max", .choices = "max|min|avg",
     .doc = "reduction"},
    {.name = "kernel", .type = NN_PARAM_INT_LIST, .def = "3, 3", .range = "[1, 64]",
     .doc = "kernel extent"},
    {.name = "weights", .type = NN_PARAM_FLOAT_LIST, .range = "(0, 1]", .doc = "weights"},
    {.name = "tag", .type = NN_PARAM_STRING, .doc = "free text"},
    {.name = NULL},
};

/* parses n key/value pairs given as "key", "value", ... from model.ini lines 10, 11, ... */
static int parse(nn_params **out, nn_error *err, int n, const char *const *kv)
{
    nn_kv kvs[16];
    for (int i = 0; i < n; i++)
        kvs[i] = (nn_kv){kv[2 * i], kv[2 * i + 1], "model.ini", 10 + i};
    return nn_params_parse(schema, kvs, n, "[layer.fc1]", out, err);
}

/* the message for one bad value of key (with units=4 given, so only key is wrong) */
static const char *reject(nn_error *err, const char *key, const char *value)
{
    nn_params *p = NULL;
    const char *kv[] = {"units", "4", key, value};
    int n = strcmp(key, "units") == 0 ? 1 : 2;
    const char *const *pairs = n == 1 ? kv + 2 : kv;
    int rc = parse(&p, err, n, pairs);
    cr_assert_eq(rc, NN_EINVAL, "%s = %s was accepted", key, value);
    cr_assert_null(p);
    return err->msg;
}

static void accept(const char *key, const char *value, nn_params **out)
{
    nn_error err = {0};
    const char *kv[] = {"units", "4", key, value};
    int n = strcmp(key, "units") == 0 ? 1 : 2;
    cr_assert_eq(parse(out, &err, n, n == 1 ? kv + 2 : kv), NN_OK, "%s = %s: %s", key, value,
                 err.msg);
}

static void accepts(const char *key, const char *value)
{
    nn_params *p = NULL;
    accept(key, value, &p);
    nn_params_free(p);
}

Test(params, schema_of_the_tests_is_itself_valid)
{
    nn_error err = {0};
    cr_assert_eq(nn_schema_validate(schema, &err), NN_OK, "%s", err.msg);
}

Test(params, defaults_are_applied_and_marked_as_not_set)
{
    nn_params *p = NULL;
    nn_error err = {0};
    const char *kv[] = {"units", "10"};
    cr_assert_eq(parse(&p, &err, 1, kv), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_params_int(p, "units"), 10);
    cr_assert(nn_params_is_set(p, "units"));
    cr_assert_float_eq(nn_params_float(p, "rate"), 0.5, 1e-15);
    cr_assert(nn_params_has(p, "rate"));
    cr_assert_not(nn_params_is_set(p, "rate"));
    cr_assert_eq(nn_params_bool(p, "use_bias"), 1);
    cr_assert_eq(nn_params_enum(p, "mode"), 0);
    cr_assert_str_eq(nn_params_str(p, "mode"), "max");
    int n = 0;
    const int64_t *k = nn_params_ints(p, "kernel", &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(k[0], 3);
    cr_assert_eq(k[1], 3);
    /* no default and not given: absent */
    cr_assert_not(nn_params_has(p, "weights"));
    cr_assert_null(nn_params_str(p, "tag"));
    cr_assert_str_eq(nn_params_origin(p), "[layer.fc1]");
    nn_params_free(p);
}

Test(params, given_values_are_parsed_into_their_types)
{
    nn_params *p = NULL;
    nn_error err = {0};
    const char *kv[] = {"units", " 64 ", "rate", "0.25", "mode", "avg", "kernel", " 5 ,1,64",
                        "weights", "0.5, 1", "tag", "  hello world  ", "use_bias", "off"};
    cr_assert_eq(parse(&p, &err, 7, kv), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_params_int(p, "units"), 64);
    cr_assert_float_eq(nn_params_float(p, "rate"), 0.25, 1e-15);
    cr_assert_eq(nn_params_enum(p, "mode"), 2);
    cr_assert_eq(nn_params_bool(p, "use_bias"), 0);
    int n = 0;
    const int64_t *k = nn_params_ints(p, "kernel", &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(k[0], 5);
    cr_assert_eq(k[1], 1);
    cr_assert_eq(k[2], 64);
    const double *w = nn_params_floats(p, "weights", &n);
    cr_assert_eq(n, 2);
    cr_assert_float_eq(w[0], 0.5, 1e-15);
    cr_assert_float_eq(w[1], 1.0, 1e-15);
    cr_assert_str_eq(nn_params_str(p, "tag"), "hello world");
    nn_params_free(p);
}

Test(params, every_bool_spelling_is_understood)
{
    const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "ON"};
    const char *no[] = {"false", "no", "off", "0", "False", "NO", "Off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        nn_params *p = NULL;
        accept("use_bias", yes[i], &p);
        cr_assert_eq(nn_params_bool(p, "use_bias"), 1, "%s", yes[i]);
        nn_params_free(p);
        accept("use_bias", no[i], &p);
        cr_assert_eq(nn_params_bool(p, "use_bias"), 0, "%s", no[i]);
        nn_params_free(p);
    }
    nn_error err = {0};
    const char *m = reject(&err, "use_bias", "maybe");
    assert_has(m, "model.ini:11: [layer.fc1] key 'use_bias' = 'maybe'");
    assert_has(m, "true/false, yes/no, on/off, 1/0");
}

Test(params, unknown_key_suggests_the_nearest_name_with_file_and_line)
{
    nn_error err = {0};
    const char *m = reject(&err, "untis", "3");
    cr_assert_str_eq(m, "model.ini:11: [layer.fc1] unknown key 'untis' (did you mean 'units'?)");
    m = reject(&err, "use_bais", "1");
    assert_has(m, "did you mean 'use_bias'?");
    m = reject(&err, "completely_else", "1");
    assert_has(m, "unknown key 'completely_else'; see `nntrain plugins show`");
}

Test(params, unknown_key_of_a_plugin_without_parameters_says_so)
{
    nn_kv kv = {"units", "3", "--set", 0};
    nn_params *p = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_params_parse(NULL, &kv, 1, "[loss]", &p, &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "--set: [loss] unknown key 'units'; this plugin takes no "
                              "parameters");
}

Test(params, wrong_types_are_rejected_naming_key_value_and_type)
{
    nn_error err = {0};
    const char *m = reject(&err, "units", "ten");
    assert_has(m, "model.ini:10: [layer.fc1] key 'units' = 'ten': not an integer; expected int "
                  "in [1, inf)");
    assert_has(reject(&err, "units", "2.5"), "not an integer");
    /* an integer beyond 64 bits is one, out of range */
    assert_has(reject(&err, "units", "99999999999999999999"),
               "'99999999999999999999': out of range (beyond 64 bits); expected int in [1, inf)");
    assert_has(reject(&err, "kernel", "3,99999999999999999999"),
               "item 2 '99999999999999999999' is out of range (beyond 64 bits)");
    assert_has(reject(&err, "units", ""), "not an integer");
    assert_has(reject(&err, "rate", "abc"), "key 'rate' = 'abc': not a number; expected "
                                            "float in [0, 1)");
    assert_has(reject(&err, "rate", "nan"), "not a finite number");
    assert_has(reject(&err, "rate", "inf"), "not a finite number");
    assert_has(reject(&err, "rate", "1e999"), "'1e999': beyond the largest number (1.8e308)");
    assert_has(reject(&err, "factor", "1e-400"), "'1e-400': too small for a double: it would "
                                                "be 0");
    accepts("factor", "1e-44"); /* a subnormal is a number like any other (float32's too) */
    /* kernels compute in float32: a value in range whose float32 is not runs another
     * algorithm, so it is refused saying what it would become */
    assert_has(reject(&err, "factor", "1e-320"), "'1e-320': rounds to 0 in float32, the "
                                                "precision training computes in, which is out "
                                                "of range; expected float in (0, 1]");
    /* decimal only, as for integers (strtod alone would take 0x1p-1 as 0.5) */
    assert_has(reject(&err, "rate", "0x1p-1"), "'0x1p-1': hexadecimal (write numbers in decimal)");
    assert_has(reject(&err, "rate", "-0X0"), "hexadecimal");
    assert_has(reject(&err, "weights", "0.5,0x1p-2"), "item 2 '0x1p-2' is hexadecimal");
    assert_has(reject(&err, "rate", "0.5x"), "'0.5x': not a number");
}

Test(params, closed_and_open_bounds_are_honoured)
{
    nn_error err = {0};
    /* units in [1, inf) */
    accepts("units", "1");
    assert_has(reject(&err, "units", "0"), "key 'units' = '0': out of range; expected int in "
                                          "[1, inf)");
    assert_has(reject(&err, "units", "-5"), "out of range");
    /* rate in [0, 1): closed below, open above */
    accepts("rate", "0");
    accepts("rate", "0.999999");
    assert_has(reject(&err, "rate", "0.99999999"), "key 'rate' = '0.99999999': rounds to 1 in "
                                                  "float32");
    assert_has(reject(&err, "rate", "1"), "key 'rate' = '1': out of range; expected float in "
                                         "[0, 1)");
    assert_has(reject(&err, "rate", "-1e-9"), "out of range");
    /* factor in (0, 1]: open below, closed above */
    accepts("factor", "1");
    accepts("factor", "1e-30");
    assert_has(reject(&err, "factor", "1e-300"), "rounds to 0 in float32");
    assert_has(reject(&err, "factor", "0"), "key 'factor' = '0': out of range; expected float "
                                           "in (0, 1]");
    assert_has(reject(&err, "factor", "1.0000001"), "out of range");
}

Test(params, bad_enum_value_lists_the_choices)
{
    nn_error err = {0};
    const char *m = reject(&err, "mode", "maximum");
    assert_has(m, "model.ini:11: [layer.fc1] key 'mode' = 'maximum': expected one of "
                  "max|min|avg");
    assert_has(reject(&err, "mode", "MAX"), "expected one of max|min|avg"); /* exact */
    assert_has(reject(&err, "mode", "ma"), "expected one of");
}

Test(params, missing_required_key_is_named_with_its_doc)
{
    nn_params *p = NULL;
    nn_error err = {0};
    const char *kv[] = {"rate", "0.1"};
    cr_assert_eq(parse(&p, &err, 1, kv), NN_EINVAL);
    cr_assert_null(p);
    cr_assert_str_eq(err.msg, "[layer.fc1] missing required key 'units' (int in [1, inf): "
                              "number of output features)");
}

Test(params, key_given_twice_is_an_error)
{
    nn_params *p = NULL;
    nn_error err = {0};
    const char *kv[] = {"units", "3", "rate", "0.1", "units", "4"};
    cr_assert_eq(parse(&p, &err, 3, kv), NN_EINVAL);
    cr_assert_str_eq(err.msg, "model.ini:12: [layer.fc1] key 'units' is given twice");
}

Test(params, list_items_are_checked_one_by_one)
{
    nn_error err = {0};
    assert_has(reject(&err, "kernel", "3,x,4"),
               "key 'kernel' = '3,x,4': item 2 'x' is not an integer; expected comma-separated "
               "int list in [1, 64]");
    assert_has(reject(&err, "kernel", "3,65"), "item 2 (65) out of range; expected int list "
                                              "in [1, 64]");
    assert_has(reject(&err, "kernel", "0"), "item 1 (0) out of range");
    assert_has(reject(&err, "kernel", "3,"), "item 2 '' is not an integer");
    assert_has(reject(&err, "weights", "0.5, 0"), "item 2 (0) out of range; expected float "
                                                 "list in (0, 1]");
    assert_has(reject(&err, "weights", "0.5, 1e-50"), "item 2 (1e-50) rounds to 0 in float32");
    assert_has(reject(&err, "weights", "0.5,nan"), "item 2 'nan' is not a finite number");
    /* a key with a default (or a required one) counts on a value: an empty list is refused */
    assert_has(reject(&err, "kernel", " "), "key 'kernel' = ' ': an empty list; expected at "
               "least one value (comma-separated int list in [1, 64]); remove the key to get "
               "its default");
    nn_params *p = NULL;
    accept("weights", "", &p); /* a key without a default: an empty list is "none" */
    int n = -1;
    cr_assert_null(nn_params_floats(p, "weights", &n));
    cr_assert_eq(n, 0);
    nn_params_free(p);
    /* a required list given empty is refused through the SDK's nn_params_new too */
    static const nn_param_spec need[] = {
        {.name = "sizes", .type = NN_PARAM_INT_LIST, .required = 1, .doc = "sizes"},
        {.name = NULL},
    };
    const char *kv[] = {"sizes=", NULL};
    cr_assert_eq(nn_params_new(need, kv, "[layer.t]", &p, &err), NN_EINVAL);
    assert_has(err.msg, "key 'sizes' = '': an empty list; expected at least one value");
}

Test(params, getters_of_keys_outside_the_schema_read_as_zero)
{
    nn_params *p = NULL;
    accept("units", "3", &p);
    int n = 7;
    cr_assert_eq(nn_params_int(p, "nope"), 0);
    cr_assert_eq(nn_params_float(p, "nope"), 0.0);
    cr_assert_null(nn_params_str(p, "nope"));
    cr_assert_eq(nn_params_enum(p, "nope"), -1);
    cr_assert_null(nn_params_ints(p, "nope", &n));
    cr_assert_eq(n, 0);
    cr_assert_not(nn_params_has(p, "nope"));
    nn_params_free(p);
}

/* one schema entry followed by the terminator; returns nn_schema_validate's message */
static const char *schema_error(nn_param_spec s, nn_error *err)
{
    nn_param_spec two[] = {s, {.name = NULL}};
    cr_assert_eq(nn_schema_validate(two, err), NN_EABI, "schema entry '%s' was accepted",
                 s.name);
    return err->msg;
}

Test(params, schema_with_malformed_ranges_is_rejected)
{
    nn_error err = {0};
    const char *bad[] = {"[0 1]", "0, 1", "[0, 1", "[1, 0]", "[a, 1]", "[0, 1, 2]", "[nan, 1]",
                         "(, 1)", "[0, 1]x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nn_param_spec s = {.name = "x", .type = NN_PARAM_FLOAT, .range = bad[i], .doc = "d"};
        char want[64];
        snprintf(want, sizeof want, "parameter 'x' has malformed range \"%s\"", bad[i]);
        cr_assert_str_eq(schema_error(s, &err), want);
    }
    const char *good[] = {"[0, 1]", "(0, inf)", "[-inf, 0)", " [ -1.5 , 2e3 ] ", "[1, 1]"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        nn_param_spec two[] = {{.name = "x", .type = NN_PARAM_FLOAT, .range = good[i],
                                .doc = "d"}, {.name = NULL}};
        cr_assert_eq(nn_schema_validate(two, &err), NN_OK, "%s: %s", good[i], err.msg);
    }
}

Test(params, schema_with_an_empty_range_is_rejected_naming_the_key)
{
    nn_error err = {0};
    const char *bad[] = {"(1, 1)", "[1, 1)", "(1,1]", "(0, 0)"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nn_param_spec s = {.name = "k", .type = NN_PARAM_INT, .range = bad[i], .doc = "d"};
        char want[96];
        snprintf(want, sizeof want, "parameter 'k' has an empty range \"%s\": no value fits",
                 bad[i]);
        assert_has(schema_error(s, &err), want);
    }
}

Test(params, schema_text_with_a_control_character_is_rejected_with_its_byte)
{
    nn_error err = {0};
    nn_param_spec doc = {.name = "k", .type = NN_PARAM_INT, .doc = "a key\nok      x.so"};
    cr_assert_str_eq(schema_error(doc, &err), "parameter 'k': doc holds a control character "
                     "(0x0a) at byte 5; it is one line of text");
    nn_param_spec def = {.name = "s", .type = NN_PARAM_STRING, .def = "\x1b[2J", .doc = "d"};
    assert_has(schema_error(def, &err), "parameter 's': default holds a control character "
               "(0x1b) at byte 0");
    nn_param_spec del = {.name = "e", .type = NN_PARAM_ENUM, .choices = "a|b\x7f", .doc = "d"};
    assert_has(schema_error(del, &err), "parameter 'e': choices holds a control character "
               "(0x7f) at byte 3");
}

Test(params, schema_key_names_are_at_most_64_bytes)
{
    nn_error err = {0};
    char name[70];
    memset(name, 'a', 64);
    name[64] = 0;
    nn_param_spec two[] = {{.name = name, .type = NN_PARAM_INT, .doc = "d"}, {.name = NULL}};
    cr_assert_eq(nn_schema_validate(two, &err), NN_OK, "%s", err.msg);
    name[64] = 'a';
    name[65] = 0;
    assert_has(schema_error(two[0], &err), "(65 bytes) is not [a-z0-9_]{1,64}");
}

Test(params, schema_contradictions_and_omissions_are_rejected)
{
    nn_error err = {0};
    cr_assert_str_eq(schema_error((nn_param_spec){.name = "units", .type = NN_PARAM_INT,
                                                  .def = "3", .required = 1, .doc = "d"}, &err),
                     "parameter 'units' is required but has a default");
    cr_assert_str_eq(schema_error((nn_param_spec){.name = "units", .type = NN_PARAM_INT},
                                  &err),
                     "parameter 'units' has no doc string");
    cr_assert_str_eq(schema_error((nn_param_spec){.name = "units", .type = NN_PARAM_INT,
                                                  .doc = ""}, &err),
                     "parameter 'units' has no doc string");
    cr_assert_str_eq(schema_error((nn_param_spec){.name = "Units", .type = NN_PARAM_INT,
                                                  .doc = "d"}, &err),
                     "parameter name 'Units' is not [a-z0-9_]{1,64}");
    assert_has(schema_error((nn_param_spec){.name = "units", .type = (nn_param_type)42,
                                            .doc = "d"}, &err), "unknown type 42");
    cr_assert_str_eq(schema_error((nn_param_spec){.name = "m", .type = NN_PARAM_ENUM,
                                                  .doc = "d"}, &err),
                     "enum parameter 'm' has no choices");
    assert_has(schema_error((nn_param_spec){.name = "m", .type = NN_PARAM_ENUM,
                                            .choices = "a||b", .doc = "d"}, &err),
               "empty or repeated choice");
    assert_has(schema_error((nn_param_spec){.name = "m", .type = NN_PARAM_ENUM,
                                            .choices = "a|b|a", .doc = "d"}, &err),
               "empty or repeated choice");
    assert_has(schema_error((nn_param_spec){.name = "s", .type = NN_PARAM_STRING,
                                            .choices = "a|b", .doc = "d"}, &err),
               "has choices but is a string");
    assert_has(schema_error((nn_param_spec){.name = "b", .type = NN_PARAM_BOOL,
                                            .range = "[0, 1]", .doc = "d"}, &err),
               "has a range but is a bool");
    cr_assert_str_eq(schema_error((nn_param_spec){.name = "k", .type = NN_PARAM_INT,
                                                  .def = "0", .range = "[1, 9]", .doc = "d"},
                                  &err),
                     "parameter 'k': default \"0\" is invalid: out of range; expected int in "
                     "[1, 9]");
    assert_has(schema_error((nn_param_spec){.name = "m", .type = NN_PARAM_ENUM,
                                            .choices = "a|b", .def = "c", .doc = "d"}, &err),
               "default \"c\" is invalid");
}

Test(params, schema_with_a_name_declared_twice_is_rejected)
{
    nn_param_spec s[] = {
        {.name = "units", .type = NN_PARAM_INT, .doc = "a"},
        {.name = "rate", .type = NN_PARAM_FLOAT, .doc = "b"},
        {.name = "units", .type = NN_PARAM_FLOAT, .doc = "c"},
        {.name = NULL},
    };
    nn_error err = {0};
    cr_assert_eq(nn_schema_validate(s, &err), NN_EABI);
    cr_assert_str_eq(err.msg, "parameter 'units' is declared twice");
}

Test(params, spec_description_shows_type_and_constraint)
{
    char buf[128];
    nn_param_spec_describe(&schema[0], buf, sizeof buf);
    cr_assert_str_eq(buf, "int in [1, inf)");
    nn_param_spec_describe(&schema[4], buf, sizeof buf);
    cr_assert_str_eq(buf, "one of max|min|avg");
    nn_param_spec_describe(&schema[5], buf, sizeof buf);
    cr_assert_str_eq(buf, "int list in [1, 64]");
    nn_param_spec_describe(&schema[7], buf, sizeof buf);
    cr_assert_str_eq(buf, "string");
}

Test(params, closest_name_uses_edits_transpositions_and_prefixes)
{
    const char *const c[] = {"units", "use_bias", "momentum"};
    cr_assert_eq(nn_edit_distance("untis", "units"), 1);
    cr_assert_eq(nn_edit_distance("kitten", "sitting"), 3);
    cr_assert_str_eq(nn_closest("unit", c, 3), "units");
    cr_assert_str_eq(nn_closest("Units", c, 3), "units");
    cr_assert_str_eq(nn_closest("mom", c, 3), "momentum"); /* a prefix */
    cr_assert_null(nn_closest("learning_rate", c, 3));
}

Test(params, relative_paths_resolve_next_to_the_model_file)
{
    static const nn_param_spec paths[] = {
        {.name = "vocab", .type = NN_PARAM_PATH, .required = 1, .doc = "vocabulary file"},
        {.name = NULL},
    };
    nn_error err = {0};
    cr_assert_eq(nn_schema_validate(paths, &err), NN_OK, "%s", err.msg);
    char desc[64];
    nn_param_spec_describe(&paths[0], desc, sizeof desc);
    cr_assert_str_eq(desc, "path");
    struct {
        const char *value, *file, *expect;
    } cases[] = {
        {"vocab.txt", "runs/a/model.ini", "runs/a/vocab.txt"},
        {"../v/vocab.txt", "/abs/m.ini", "/abs/../v/vocab.txt"},
        {"/etc/vocab.txt", "runs/a/model.ini", "/etc/vocab.txt"}, /* absolute: unchanged */
        {"vocab.txt", "model.ini", "vocab.txt"},      /* model file in the working dir */
        {"vocab.txt", "--set", "vocab.txt"},          /* typed on the command line */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nn_kv kv = {"vocab", cases[i].value, cases[i].file, 3};
        nn_params *p = NULL;
        cr_assert_eq(nn_params_parse(paths, &kv, 1, "[transform.syn]", &p, &err), NN_OK, "%s",
                     err.msg);
        cr_assert_str_eq(nn_params_str(p, "vocab"), cases[i].expect, "case %zu", i);
        nn_params_free(p);
    }
    static const nn_param_spec ranged[] = {
        {.name = "f", .type = NN_PARAM_PATH, .range = "[0, 1]", .doc = "a path with a range"},
        {.name = NULL},
    };
    cr_assert_eq(nn_schema_validate(ranged, &err), NN_EABI);
}

Test(params, a_key_from_a_file_is_placed_by_its_own_line_and_the_file_said_once)
{
    /* the layer's origin repeats the file with the section's line: only the key's line stays */
    nn_kv kv[] = {{"units", "x", "m.ini", 29}};
    nn_params *p = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_params_parse(schema, kv, 1, "m.ini:26: [layer.fc1]", &p, &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "m.ini:29: [layer.fc1] key 'units' = 'x': not an integer; "
                              "expected int in [1, inf)");
    /* other origins are kept as they are */
    cr_assert_eq(nn_params_parse(schema, kv, 1, "m.ini [data]", &p, &err), NN_EINVAL);
    assert_has(err.msg, "m.ini:29: [data] key 'units'");
    kv[0].file = "--set";
    kv[0].line = 0;
    cr_assert_eq(nn_params_parse(schema, kv, 1, "m.ini:26: [layer.fc1]", &p, &err), NN_EINVAL);
    assert_has(err.msg, "--set: m.ini:26: [layer.fc1] key 'units'");
}

Test(params, control_and_non_utf8_bytes_in_keys_and_values_are_escaped)
{
    nn_kv kv[] = {{"units", "4\x1b[2J\xff", "m.ini", 3}};
    nn_params *p = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_params_parse(schema, kv, 1, "[layer.a]", &p, &err), NN_EINVAL);
    assert_has(err.msg, "key 'units' = '4\\x1b[2J\\xff': not an integer");
    nn_kv kv2[] = {{"un\x07its", "4", "m.ini", 3}};
    cr_assert_eq(nn_params_parse(schema, kv2, 1, "[layer.a]", &p, &err), NN_EINVAL);
    assert_has(err.msg, "unknown key 'un\\x07its'");
    nn_kv kv3[] = {{"units", "4", "m.ini", 2}, {"kernel", "3, \x01", "m.ini", 3}};
    cr_assert_eq(nn_params_parse(schema, kv3, 2, "[layer.a]", &p, &err), NN_EINVAL);
    assert_has(err.msg, "item 2 '\\x01' is not an integer");
    for (const char *c = err.msg; *c; c++)
        cr_assert((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "raw byte in: %s",
                  err.msg);
}

Test(params, text_escape_keeps_utf8_and_printable_text_and_escapes_the_rest)
{
    char buf[64];
    cr_assert_str_eq(nn_text_escape("plain [x] = 1", buf, sizeof buf, 0), "plain [x] = 1");
    cr_assert_str_eq(nn_text_escape("\x1b[31mred", buf, sizeof buf, 0), "\\x1b[31mred");
    cr_assert_str_eq(nn_text_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", buf, sizeof buf,
                                    0), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    cr_assert_str_eq(nn_text_escape("a\xc3", buf, sizeof buf, 0), "a\\xc3"); /* cut short */
    cr_assert_str_eq(nn_text_escape("\xc0\xaf", buf, sizeof buf, 0), "\\xc0\\xaf"); /* overlong */
    cr_assert_str_eq(nn_text_escape("\xed\xa0\x80", buf, sizeof buf, 0), "\\xed\\xa0\\x80");
    cr_assert_str_eq(nn_text_escape("\x7f", buf, sizeof buf, 0), "\\x7f");
    cr_assert_str_eq(nn_text_escape("a\nb\tc\r", buf, sizeof buf, 1), "a\nb\tc\\x0d");
    cr_assert_str_eq(nn_text_escape("a\nb", buf, sizeof buf, 0), "a\\x0ab");
    cr_assert_str_eq(nn_text_escape(NULL, buf, sizeof buf, 0), "");
    /* cut to fit, and never in the middle of an escape or a character */
    cr_assert_str_eq(nn_text_escape("abcdefgh", buf, 8, 0), "abcd...");
    cr_assert_str_eq(nn_text_escape("\x01\x02\x03", buf, 10, 0), "\\x01...");
    cr_assert_str_eq(nn_text_escape("\xc3\xa9\xc3\xa9\xc3\xa9", buf, 9, 0), "\xc3\xa9\xc3\xa9...");
}
