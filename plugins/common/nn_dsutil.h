/* nn_dsutil.h: what every stock dataset's open() repeats: the checks of the requested split,
 * class names (from a `classes` list or the distinct labels of the training file) and, for
 * prediction inputs, the file and line each sample came from. Part of libnn_datautil.a (linked
 * into each plugin, never into libnncore); it never prints and holds no global state. */
#ifndef NN_DSUTIL_H
#define NN_DSUTIL_H

#include <stdint.h>

#include <nntrain/dataset.h>

/* Refuses what a stock dataset cannot open before anything is read: NN_SPLIT_VAL (the core
 * carves validation with val_split, or val_type = plugin with val_key), NN_SPLIT_TEST while
 * the test key is unset (test_value NULL), NN_SPLIT_PREDICT without inputs (`inputs` says
 * what an input is: "a CSV file"). returns NN_OK or the error naming the key. */
int nnd_split_check(const nn_dataset_open *o, const char *plugin, const char *test_key,
                    const char *test_value, const char *val_key, const char *inputs,
                    nn_error *err);

/* Class names in id order. */
typedef struct nnd_names {
    char **v;
    int n, cap;
} nnd_names;

/* Appends the comma-separated names of list, trimmed of blanks, empty ones skipped (a repeat
 * is an error naming `key`). */
int nnd_names_parse(nnd_names *c, const char *list, const char *key, nn_error *err);
/* Appends s unless it is there already. */
int nnd_names_add(nnd_names *c, const char *s, nn_error *err);
/* returns the id of s, or -1 */
int nnd_names_find(const nnd_names *c, const char *s);
void nnd_names_free(nnd_names *c);

/* Where each sample of a prediction came from: file and line, for describe(). */
typedef struct nnd_origins {
    char **file;
    int n_files;
    int *row_file, *row_line;
    int64_t n, cap;
} nnd_origins;

/* Registers the next input file; its rows follow with nnd_origins_row. */
int nnd_origins_file(nnd_origins *o, const char *path, nn_error *err);
int nnd_origins_row(nnd_origins *o, int line, nn_error *err);
/* dataset describe(): "FILE:LINE" for an input's row, else the index (of n samples) */
int nnd_origins_describe(const nnd_origins *o, int64_t n, int64_t index, char *buf, size_t cap);
void nnd_origins_free(nnd_origins *o);

#endif
