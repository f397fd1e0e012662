/* test_config.c: model files (INI): what they hold, every syntax error with its file:line,
 * --set overrides (dotted section names; no new layers), and the effective text that must
 * parse back to the same configuration. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define assert_has(text, needle)                                                        \
    cr_assert(strstr((text), (needle)), "expected to find \"%s\" in:\n%s", (needle), (text))

static const char model[] =
    "; a small model\n"
    "[train]\n"
    "epochs = 3\n"
    "batch_size = 32   ; inline comment\n"
    "\n"
    "[layer.fc1]\n"
    "type = dense\n"
    "units = 128\n"
    "# another comment\n"
    "[layer.fc-2]\n"
    "type = dense\n"
    "units = 10\n"
    "[optimizer]\n"
    "type = sgd\n"
    "lr = 0.1\n"
    "[logger.csv]\n";

static nn_config *parse_ok(const char *text)
{
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse(text, "model.ini", &c, &err), NN_OK, "%s", err.msg);
    return c;
}

/* parses text that must fail; returns the message */
static const char *parse_fail(const char *text, nn_error *err)
{
    nn_config *c = NULL;
    int rc = nn_config_parse(text, "model.ini", &c, err);
    cr_assert_eq(rc, NN_EFORMAT, "parsed (rc %d) but should not have:\n%s", rc, text);
    cr_assert_null(c);
    return err->msg;
}

Test(config, sections_keys_and_their_lines_are_kept_in_order)
{
    nn_config *c = parse_ok(model);
    cr_assert_eq(nn_config_count(c), 5);
    const char *names[] = {"train", "layer.fc1", "layer.fc-2", "optimizer", "logger.csv"};
    const int lines[] = {2, 6, 10, 13, 16};
    for (int i = 0; i < 5; i++) {
        cr_assert_str_eq(nn_config_at(c, i)->name, names[i]);
        cr_assert_eq(nn_config_at(c, i)->line, lines[i]);
    }
    const nn_kv *kv = nn_config_get(c, "train", "batch_size");
    cr_assert(kv);
    cr_assert_str_eq(kv->value, "32");
    cr_assert_str_eq(kv->file, "model.ini");
    cr_assert_eq(kv->line, 4);
    kv = nn_config_get(c, "layer.fc-2", "units");
    cr_assert_str_eq(kv->value, "10");
    cr_assert_eq(kv->line, 12);
    cr_assert_eq(nn_config_find(c, "logger.csv")->n, 0);
    cr_assert_null(nn_config_get(c, "train", "lr"));
    cr_assert_null(nn_config_find(c, "data"));
    cr_assert_str_eq(nn_config_source(c), model);
    nn_config_free(c);
}

Test(config, unknown_section_suggests_the_nearest_one)
{
    nn_error err = {0};
    const char *m = parse_fail("[train]\nepochs = 1\n\n[optimiser]\nlr = 1\n", &err);
    assert_has(m, "model.ini:4: unknown section [optimiser] (did you mean [optimizer]?)");
    m = parse_fail("[trian]\n", &err);
    assert_has(m, "model.ini:1: unknown section [trian] (did you mean [train]?)");
    m = parse_fail("[train]\n[weird_stuff]\n", &err);
    assert_has(m, "model.ini:2: unknown section [weird_stuff]; sections are [train]");
    m = parse_fail("[layer.]\n", &err);
    assert_has(m, "model.ini:1: section [layer.] needs a name after the dot");
    m = parse_fail("[layer.a b]\n", &err);
    assert_has(m, "model.ini:1: section [layer.a b]: names may use");
}

Test(config, key_before_any_section_is_an_error)
{
    nn_error err = {0};
    cr_assert_str_eq(parse_fail("; header\nepochs = 3\n[train]\n", &err),
                     "model.ini:2: key 'epochs' appears before any [section]");
}

Test(config, duplicate_key_names_both_lines)
{
    nn_error err = {0};
    cr_assert_str_eq(parse_fail("[train]\nepochs = 3\nlr = 1\nepochs = 4\n", &err),
                     "model.ini:4: [train] key 'epochs' is set twice (first at line 2)");
}

Test(config, duplicate_section_names_both_lines)
{
    nn_error err = {0};
    cr_assert_str_eq(parse_fail("[layer.fc1]\nunits = 3\n[train]\n[layer.fc1]\nunits = 4\n",
                                &err),
                     "model.ini:4: section [layer.fc1] appears twice (first at line 1)");
}

Test(config, malformed_lines_are_reported_with_their_line)
{
    nn_error err = {0};
    cr_assert_str_eq(parse_fail("[train]\nepochs = 3\njust some words\n", &err),
                     "model.ini:3: expected 'key = value', '[section]' or a comment");
    cr_assert_str_eq(parse_fail("[train]\n[data\n", &err),
                     "model.ini:2: section header has no closing ']'");
}

Test(config, over_long_line_is_reported_not_truncated)
{
    size_t n = 5000;
    char *text = malloc(n + 64);
    cr_assert(text);
    int h = snprintf(text, 64, "[train]\nepochs = 1\nnote = ");
    memset(text + h, 'x', n);
    strcpy(text + h + n, "\nlr = 1\n");
    nn_error err = {0};
    const char *m = parse_fail(text, &err);
    assert_has(m, "model.ini:3: line is longer than");
    free(text);
}

Test(config, load_reads_a_file_and_names_it_in_errors)
{
    char path[] = "/tmp/nntest-model.XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("[train]\nepochs = 2\n[layer.x]\nunits 5\n", f);
    fclose(f);
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_load(path, &c, &err), NN_EFORMAT);
    char want[128];
    snprintf(want, sizeof want, "%s:4: expected 'key = value'", path);
    assert_has(err.msg, want);
    f = fopen(path, "w");
    fputs("[train]\nepochs = 2\n", f);
    fclose(f);
    cr_assert_eq(nn_config_load(path, &c, &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(nn_config_path(c), path);
    cr_assert_str_eq(nn_config_get(c, "train", "epochs")->file, path);
    nn_config_free(c);
    unlink(path);
    cr_assert_eq(nn_config_load(path, &c, &err), NN_ENOTFOUND);
    assert_has(err.msg, "cannot open model file");
    assert_has(err.msg, path);
}

Test(config, set_overrides_win_and_remember_where_they_came_from)
{
    nn_config *c = parse_ok(model);
    nn_error err = {0};
    cr_assert_eq(nn_config_set(c, "train.epochs=7", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_config_set(c, "layer.fc1.units = 64", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_config_set(c, "layer.fc1.activation=relu", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_config_set(c, "data.path=/tmp/x.csv", &err), NN_OK, "%s", err.msg);
    const nn_kv *kv = nn_config_get(c, "train", "epochs");
    cr_assert_str_eq(kv->value, "7");
    cr_assert_str_eq(kv->file, "--set");
    cr_assert_eq(kv->line, 0);
    cr_assert_str_eq(nn_config_get(c, "layer.fc1", "units")->value, "64");
    cr_assert_str_eq(nn_config_get(c, "layer.fc1", "activation")->value, "relu");
    cr_assert_str_eq(nn_config_get(c, "data", "path")->value, "/tmp/x.csv");
    cr_assert_eq(nn_config_find(c, "data")->line, 0);
    /* untouched keys keep their place */
    cr_assert_eq(nn_config_get(c, "train", "batch_size")->line, 4);
    cr_assert_eq(nn_config_find(c, "layer.fc1")->n, 3);
    nn_config_free(c);
}

Test(config, set_refuses_new_layers_and_malformed_assignments)
{
    nn_config *c = parse_ok(model);
    nn_error err = {0};
    cr_assert_eq(nn_config_set(c, "layer.fc3.units=5", &err), NN_EINVAL);
    assert_has(err.msg, "--set layer.fc3.units: model.ini has no section [layer.fc3]");
    cr_assert_eq(nn_config_set(c, "train.epochs", &err), NN_EINVAL);
    assert_has(err.msg, "expected section.key=value");
    cr_assert_eq(nn_config_set(c, "epochs=3", &err), NN_EINVAL);
    assert_has(err.msg, "expected section.key=value");
    cr_assert_eq(nn_config_set(c, "trian.epochs=3", &err), NN_EINVAL);
    assert_has(err.msg, "(did you mean [train]?)");
    cr_assert_eq(nn_config_set(c, "train.=3", &err), NN_EINVAL);
    assert_has(err.msg, "the key is empty");
    cr_assert_eq(nn_config_set(c, "train.note=x ;y", &err), NN_EINVAL);
    assert_has(err.msg, "--set train.note: the value may not hold a line break, start with ';' "
                        "or hold ' ;'");
    cr_assert_eq(nn_config_set(c, "train.note=;y", &err), NN_EINVAL);
    cr_assert_eq(nn_config_put(c, "train", "note", "x\ny", &err), NN_EINVAL);
    cr_assert_null(nn_config_find(c, "layer.fc3"));
    cr_assert_null(nn_config_get(c, "train", "note"));
    nn_config_free(c);
}

/* every section and key of a equals b's, in order */
static void assert_same_config(const nn_config *a, const nn_config *b)
{
    cr_assert_eq(nn_config_count(a), nn_config_count(b));
    for (int i = 0; i < nn_config_count(a); i++) {
        const nn_config_section *x = nn_config_at(a, i), *y = nn_config_at(b, i);
        cr_assert_str_eq(x->name, y->name);
        cr_assert_eq(x->n, y->n, "[%s]", x->name);
        for (int k = 0; k < x->n; k++) {
            cr_assert_str_eq(x->kvs[k].key, y->kvs[k].key);
            cr_assert_str_eq(x->kvs[k].value, y->kvs[k].value);
        }
    }
}

Test(config, effective_text_parses_back_to_the_same_configuration)
{
    nn_config *c = parse_ok(model);
    nn_error err = {0};
    cr_assert_eq(nn_config_set(c, "layer.fc-2.units=11", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_config_set(c, "scheduler.type=cosine", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_config_set(c, "train.note=a = b : c", &err), NN_OK, "%s", err.msg);
    const char *text = nn_config_text(c);
    assert_has(text, "[layer.fc-2]\ntype = dense\nunits = 11\n");
    nn_config *back = NULL;
    cr_assert_eq(nn_config_parse(text, "effective", &back, &err), NN_OK, "%s\n%s", err.msg,
                 text);
    assert_same_config(c, back);
    cr_assert_str_eq(nn_config_text(back), text);
    nn_config_free(back);
    nn_config_free(c);
}

Test(config, empty_model_has_no_sections_and_empty_text)
{
    nn_config *c = parse_ok("; nothing here\n\n");
    cr_assert_eq(nn_config_count(c), 0);
    cr_assert_str_eq(nn_config_text(c), "");
    nn_config_free(c);
}

Test(config, section_take_removes_a_key_for_its_consumer)
{
    nn_config *c = parse_ok(model);
    nn_config_section *s = (nn_config_section *)nn_config_find(c, "layer.fc1");
    nn_kv kv;
    cr_assert_eq(nn_section_take(s, "type", &kv), 1);
    cr_assert_str_eq(kv.value, "dense");
    cr_assert_eq(kv.line, 7);
    cr_assert_eq(s->n, 1);
    cr_assert_str_eq(s->kvs[0].key, "units");
    cr_assert_eq(nn_section_take(s, "type", NULL), 0);
    nn_config_free(c);
}

Test(config, indentation_is_insignificant_and_never_continues_a_value)
{
    nn_config *c = parse_ok("[layer.x]\n  type = dense\n\tunits = 10\n");
    cr_assert_str_eq(nn_config_get(c, "layer.x", "type")->value, "dense");
    cr_assert_str_eq(nn_config_get(c, "layer.x", "units")->value, "10");
    cr_assert_eq(nn_config_get(c, "layer.x", "units")->line, 3);
    nn_config_free(c);
    nn_error err = {0};
    cr_assert_str_eq(parse_fail("[train]\nnote = a\n  b\n", &err),
                     "model.ini:3: expected 'key = value', '[section]' or a comment");
}

Test(config, cr_only_and_crlf_line_ends_read_as_lf_with_the_same_line_numbers)
{
    const char *texts[] = {"[train]\repochs = 3\r\r[layer.a]\rtype = dense\runits = 4\r",
                           "[train]\r\nepochs = 3\r\n\r\n[layer.a]\r\ntype = dense\r\n"
                           "units = 4\r\n",
                           "[train]\nepochs = 3\r\n\r[layer.a]\ntype = dense\runits = 4"};
    for (int i = 0; i < 3; i++) {
        nn_config *c = NULL;
        nn_error err = {0};
        cr_assert_eq(nn_config_parse(texts[i], "m.ini", &c, &err), NN_OK, "%d: %s", i, err.msg);
        const nn_kv *kv = nn_config_get(c, "layer.a", "units");
        cr_assert(kv, "text %d: [layer.a] units is missing", i);
        cr_assert_str_eq(kv->value, "4"); /* no stray CR in the value */
        cr_assert_eq(kv->line, 6, "text %d: units at line %d", i, kv->line);
        cr_assert_eq(nn_config_get(c, "train", "epochs")->line, 2);
        cr_assert_eq(nn_config_find(c, "layer.a")->line, 4);
        cr_assert_null(strchr(nn_config_source(c), '\r'));
        nn_config_free(c);
    }
}

Test(config, bytes_of_a_binary_file_are_escaped_in_messages)
{
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse("[\x1b]2;x\x07]\n", "m.ini", &c, &err), NN_EFORMAT);
    assert_has(err.msg, "m.ini:1: unknown section [\\x1b]");
    cr_assert_eq(nn_config_parse("\x01\x02 = 3\n", "m.ini", &c, &err), NN_EFORMAT);
    assert_has(err.msg, "key '\\x01\\x02' appears before any [section]");
    cr_assert_eq(nn_config_parse("[train]\na\x9b = 1\na\x9b = 2\n", "m.ini", &c, &err),
                 NN_EFORMAT);
    assert_has(err.msg, "key 'a\\x9b' is set twice");
}

Test(config, what_set_stores_reads_back_the_same_from_the_effective_text)
{
    /* found by tests/fuzz/fuzz_config.c: each of these used to come back changed or lost */
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse("[train]\nepochs = 1\n[optimizer]\nmomentum =; note\n",
                                 "m.ini", &c, &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(nn_config_get(c, "optimizer", "momentum")->value, ""); /* a comment */
    cr_assert_eq(nn_config_set(c, "train.a:b=1", &err), NN_EINVAL); /* would read as a = b... */
    assert_has(err.msg, "--set train.a:b: a key is made of letters, digits, '_' and '-'");
    cr_assert_eq(nn_config_set(c, "train.;x=1", &err), NN_EINVAL); /* would read as a comment */
    cr_assert_eq(nn_config_set(c, "train.[x=1", &err), NN_EINVAL);
    cr_assert_eq(nn_config_set(c, "train.seed=  7  ", &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(nn_config_get(c, "train", "seed")->value, "7");
    cr_assert_eq(nn_config_set(c, "train.\x1b[2J=1", &err), NN_EINVAL);
    assert_has(err.msg, "--set train.\\x1b[2J: a key");
    cr_assert_eq(nn_config_set(c, "tr\x07" "ain", &err), NN_EINVAL);
    assert_has(err.msg, "--set 'tr\\x07ain': expected section.key=value");
    nn_config *back = NULL;
    cr_assert_eq(nn_config_parse(nn_config_text(c), "back.ini", &back, &err), NN_OK, "%s",
                 err.msg);
    cr_assert_str_eq(nn_config_get(back, "train", "seed")->value, "7");
    cr_assert_str_eq(nn_config_get(back, "optimizer", "momentum")->value, "");
    nn_config_free(back);
    nn_config_free(c);
}

Test(config, a_byte_order_mark_does_not_hide_the_first_section)
{
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse("\xEF\xBB\xBF[train]\nepochs = 1\n[train]\nseed = 2\n", "m.ini",
                                 &c, &err), NN_EFORMAT);
    assert_has(err.msg, "m.ini:3: section [train] appears twice (first at line 1)");
    cr_assert_eq(nn_config_parse("\xEF\xBB\xBF[data]\n[train]\nepochs = 1\n", "m.ini", &c, &err),
                 NN_OK, "%s", err.msg);
    cr_assert_not_null(nn_config_find(c, "data"));
    cr_assert_eq(nn_config_find(c, "data")->line, 1);
    nn_config_free(c);
}

/* a BOM or a non-breaking space pasted before a later header hid it from inih: its keys then
 * joined the section above, and the error named the next line ("key 'type' is set twice") */
Test(config, an_invisible_character_before_a_later_section_header_is_named_on_its_line)
{
    nn_error err = {0};
    static const struct { const char *text, *msg; } cases[] = {
        {"[data]\ntype = idx\n\n\xEF\xBB\xBF[loss]\ntype = mse\n",
         "model.ini:4: a section header must start the line (spaces before it are fine); found "
         "U+FEFF, an invisible or non-ASCII space, before '['"},
        {"[data]\ntype = idx\n\xC2\xA0[loss]\ntype = mse\n",
         "model.ini:3: a section header must start the line (spaces before it are fine); found "
         "U+00A0, an invisible or non-ASCII space, before '['"},
        {"[data]\ntype = idx\n \xE2\x80\x8B\t\xE3\x80\x80[loss]\ntype = mse\n",
         "model.ini:3: a section header must start the line (spaces before it are fine); found "
         "U+200B, an invisible or non-ASCII space, before '['"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_str_eq(parse_fail(cases[i].text, &err), cases[i].msg);
    /* ASCII indentation before a header is still fine, and so is a BOM that starts the file */
    nn_config *c = parse_ok("\xEF\xBB\xBF[data]\ntype = idx\n \t[loss]\ntype = mse\n");
    cr_assert_not_null(nn_config_find(c, "loss"));
    nn_config_free(c);
}

Test(config, unset_and_an_empty_set_remove_a_key_and_name_what_is_missing)
{
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse("[optimizer]\ntype = sgd\nlr = 0.1\nmomentum = 0.9\n"
                                 "[layer.fc1]\nunits = 3\n", "m.ini", &c, &err), NN_OK);
    const char *before = nn_config_text(c);
    assert_has(before, "momentum = 0.9");
    cr_assert_eq(nn_config_unset(c, "optimizer.momentum", &err), NN_OK, "%s", err.msg);
    cr_assert_null(nn_config_get(c, "optimizer", "momentum"));
    cr_assert_eq(nn_config_find(c, "optimizer")->n, 2);
    cr_assert_null(strstr(nn_config_text(c), "momentum")); /* the effective text follows */
    cr_assert_eq(nn_config_set(c, "layer.fc1.units=", &err), NN_OK, "%s", err.msg);
    cr_assert_null(nn_config_get(c, "layer.fc1", "units"));
    cr_assert_not_null(nn_config_find(c, "layer.fc1")); /* the section stays */
    /* set again after removing */
    cr_assert_eq(nn_config_set(c, "optimizer.momentum=0.5", &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(nn_config_get(c, "optimizer", "momentum")->value, "0.5");

    cr_assert_eq(nn_config_unset(c, "optimizer.lrr", &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "--unset optimizer.lrr: [optimizer] in m.ini sets no key 'lrr' "
                              "(did you mean 'lr'?), so there is nothing to remove (a key it "
                              "does not set has its default already); the keys it sets: type, "
                              "lr, momentum");
    cr_assert_eq(nn_config_unset(c, "layer.fc2.units", &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "--unset layer.fc2.units: m.ini has no section [layer.fc2], so "
                              "no key 'units' to remove");
    cr_assert_eq(nn_config_set(c, "layer.fc1.units=  ", &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "--set layer.fc1.units=  : [layer.fc1] in m.ini sets no key "
                              "'units', so there is nothing to remove (a key it does not set "
                              "has its default already); the keys it sets: none");
    cr_assert_eq(nn_config_unset(c, "momentum", &err), NN_EINVAL);
    assert_has(err.msg, "--unset 'momentum': expected section.key");
    cr_assert_eq(nn_config_unset(c, "optimizer.", &err), NN_EINVAL);
    nn_config_free(c);
}

Test(config, unset_quotes_the_files_keys_escaped)
{
    /* found by fuzz_config: the did-you-mean and the key list came from the file raw */
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse("[train]\nse\xd7" "d = 1\n", "m.ini", &c, &err), NN_OK);
    cr_assert_eq(nn_config_unset(c, "train.seed", &err), NN_EINVAL);
    cr_assert_str_eq(err.msg, "--unset train.seed: [train] in m.ini sets no key 'seed' (did you "
                              "mean 'se\\xd7d'?), so there is nothing to remove (a key it does "
                              "not set has its default already); the keys it sets: se\\xd7d");
    nn_config_free(c);
}

Test(config, a_section_name_longer_than_inih_keeps_is_refused)
{
    /* found by fuzz_config: inih passed the keys under the name cut to 49 bytes, so a long
     * [layer.NAME] became an empty layer plus a second one holding its keys */
    char text[300];
    snprintf(text, sizeof text, "[layer.%s]\ntype = dense\n",
             "a_very_long_layer_name_that_goes_on_and_on_and_on");
    nn_config *c = NULL;
    nn_error err = {0};
    cr_assert_eq(nn_config_parse(text, "m.ini", &c, &err), NN_EFORMAT);
    assert_has(err.msg, "m.ini:1: section name [layer.a_very_long_layer_name_that_goes_on_and_"
                        "on_and_on] is longer than 49 characters");
    snprintf(text, sizeof text, "[layer.%s]\ntype = dense\n",
             "forty_two_characters_long_name_is_fine_ok");
    cr_assert_eq(nn_config_parse(text, "m.ini", &c, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_config_find(c, "layer.forty_two_characters_long_name_is_fine_ok")->n, 1);
    cr_assert_eq(nn_config_set(c, "transform.an_augmentation_with_a_name_far_too_long_x.p=1",
                               &err), NN_EINVAL);
    assert_has(err.msg, "is longer than 49 characters");
    nn_config_free(c);
}
