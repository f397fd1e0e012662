/* params_internal.h: how the core turns `key = value` text into a plugin's nn_params.
 * Plugins never see this: they only read nn_params through <nntrain/params.h>. */
#ifndef NN_PARAMS_INTERNAL_H
#define NN_PARAMS_INTERNAL_H

#include "nntrain/params.h"

/* One `key = value` with where it came from, for messages. file may be NULL. */
typedef struct nn_kv {
    const char *key;
    const char *value;
    const char *file; /* "model.ini", "--set", or NULL */
    int line;         /* 0 when unknown */
} nn_kv;

/* Checks a plugin's schema itself (names, types, ranges, choices, defaults).
 * returns NN_OK or NN_EABI with the first problem in err. */
int nn_schema_validate(const nn_param_spec *schema, nn_error *err);

/* Parses kvs against schema. origin names the section ("[layer.fc1]") for messages.
 * On success *out is owned by the caller (nn_params_free). On failure err names the key,
 * the value, its file:line and what was expected. */
int nn_params_parse(const nn_param_spec *schema, const nn_kv *kvs, int n, const char *origin,
                    nn_params **out, nn_error *err);

/* "model.ini:7: [layer.fc1]": where a message about kv (may be NULL) of the section origin
 * names is about: kv's file:line, then origin without a file name of its own that says the
 * same file again. No trailing space. returns buf. */
const char *nn_kv_where(char *buf, size_t cap, const nn_kv *kv, const char *origin);

/* Formats a spec's type and constraint for docs: "int in [1, inf)", "enum max|min". */
void nn_param_spec_describe(const nn_param_spec *s, char *buf, size_t cap);

/* Edit distance, for did-you-mean suggestions elsewhere in the core too. */
int nn_edit_distance(const char *a, const char *b);

/* The closest candidate within distance 2 (or a prefix match), or NULL. */
const char *nn_closest(const char *word, const char *const *cands, int n);

/* A plugin's text that the CLI prints (summary, version, license, a key's doc, default,
 * range, choices) is one line: NN_OK, or NN_EABI with "FIELD holds a control character
 * (0x1b) at byte N; it is one line of text" in err when s has a C0 control byte (LF, CR,
 * ESC, TAB...) or DEL, which would forge or hide lines of nntrain's own output. */
int nn_text_line_check(const char *field, const char *s, nn_error *err);

/* Text from a file, safe to quote in a message: control bytes, DEL and bytes that are not
 * valid UTF-8 become \xNN (newlines and tabs too unless keep_lines); valid UTF-8 stays. Cut
 * with "..." to fit cap. returns buf. */
const char *nn_text_escape(const char *s, char *buf, size_t cap, int keep_lines);

#endif
