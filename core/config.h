/* config.h: the model file (INI) as sections of `key = value` entries that remember their
 * file:line, plus `--set section.key=value` overrides. It parses and reports; the meaning of
 * each section belongs to the code that reads it. */
#ifndef NN_CONFIG_H
#define NN_CONFIG_H

#include "nntrain/status.h"
#include "params_internal.h"

typedef struct nn_config nn_config;

typedef struct nn_config_section {
    const char *name; /* "train", "layer.fc1" */
    int line;         /* 0 when created by --set */
    int n;
    nn_kv *kvs;       /* kv.file = the model file's name, or "--set" */
} nn_config_section;

/* Parses a model file. On error err reads "path:line: what is wrong". */
int nn_config_load(const char *path, nn_config **out, nn_error *err);
/* Same from text; name is used in messages in place of a path. */
int nn_config_parse(const char *text, const char *name, nn_config **out, nn_error *err);
void nn_config_free(nn_config *c);

/* Applies "section.key=value" (section may hold dots: layer.fc1.units=64). An empty value,
 * "section.key=", removes the key as nn_config_unset does. */
int nn_config_set(nn_config *c, const char *assignment, nn_error *err);
/* Removes "section.key" (--unset): its plugin's default applies again. A key or section that
 * does not exist is an error naming it (with a did-you-mean and the section's keys). */
int nn_config_unset(nn_config *c, const char *name, nn_error *err);
/* Sets section.key to value programmatically (same rules as --set). */
int nn_config_put(nn_config *c, const char *section, const char *key, const char *value,
                  nn_error *err);
/* As nn_config_put, with the key's kv.file set to `option` (static, e.g. "--init-from"), so
 * that messages name the command-line option that set it rather than "--set". */
int nn_config_put_as(nn_config *c, const char *section, const char *key, const char *value,
                     const char *option, nn_error *err);

int nn_config_count(const nn_config *c);
const nn_config_section *nn_config_at(const nn_config *c, int i);
const nn_config_section *nn_config_find(const nn_config *c, const char *section);
/* returns the entry or NULL; borrowed */
const nn_kv *nn_config_get(const nn_config *c, const char *section, const char *key);
const char *nn_config_path(const nn_config *c);
/* "model.ini:12: [transform.t]" (the section header's line), or "model.ini: [loss]" for a
 * section made by --set or absent (s NULL, name given); for messages. returns buf. */
const char *nn_config_origin(char *buf, size_t cap, const nn_config *c,
                             const nn_config_section *s, const char *name);
/* The effective configuration (overrides applied) as INI text; owned by c. */
const char *nn_config_text(nn_config *c);
/* The file's original text with CRLF and CR line ends made LF; owned by c. */
const char *nn_config_source(const nn_config *c);

/* Removes key from a section's list (after a consumer has taken it, for instance the core's
 * own keys of a layer section before the rest goes to the plugin); returns 1 if removed. */
int nn_section_take(nn_config_section *s, const char *key, nn_kv *out);

#endif
