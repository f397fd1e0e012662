/* registry.h: finds plugin files, loads and validates them, and answers lookups by
 * (kind, name, device). A broken plugin becomes a problem entry with its reason; it never
 * stops the scan and never crashes the host (files are probed in a child process first). */
#ifndef NN_REGISTRY_H
#define NN_REGISTRY_H

#include "nntrain/plugin.h"

typedef struct nn_registry nn_registry;

typedef struct nn_registry_opts {
    int allow_insecure; /* load files/dirs writable by group or others */
    int allow_override; /* a duplicate (kind, name, device): the earlier in search order wins */
    int no_probe;       /* skip the crash-isolating child (tests of the probe itself) */
    double probe_timeout_s; /* a plugin that hangs while loading; 0 = 10 s */
} nn_registry_opts;

/* One loaded descriptor. Borrowed pointers, valid until nn_registry_free(). */
typedef struct nn_plugin_entry {
    const nn_plugin_desc *desc;
    const char *path;
    const char *device; /* desc->device or "cpu" */
    const char *shadowed_path; /* with allow_override: the file it overrides, else NULL */
} nn_plugin_entry;

/* A file (or one descriptor in it) that could not be used, and why. */
typedef struct nn_plugin_problem {
    const char *path;
    int status;         /* NN_EDLOPEN, NN_EABI, NN_EPERM, NN_EEXIST, NN_ECANCELED (crash) */
    const char *reason; /* one sentence */
    const char *name;   /* the name its descriptor declared, when it could be read, or NULL */
    int kind;           /* that descriptor's kind, or 0 */
    const char *device; /* its device ("cpu" when it names none), when name is set, or NULL */
} nn_plugin_problem;

/* returns an owned registry, or NULL when out of memory; opts may be NULL */
nn_registry *nn_registry_new(const nn_registry_opts *opts);
void nn_registry_free(nn_registry *r);

/* Loads every *.so in dir (sorted by name). Problems with single files are recorded, not
 * returned: the return is an error only when dir itself cannot be read or is insecure. */
int nn_registry_add_dir(nn_registry *r, const char *dir, nn_error *err);
/* Loads one file; a problem is recorded and also returned. */
int nn_registry_add_file(nn_registry *r, const char *path, nn_error *err);

/* Standard search order: each of dirs, then NNTRAIN_PLUGIN_PATH, then install_dir (may be
 * NULL). A missing --plugin-dir is an error; missing env entries are recorded as problems. */
int nn_registry_scan(nn_registry *r, const char *const *dirs, int ndirs, const char *install_dir,
                     nn_error *err);

int nn_registry_count(const nn_registry *r);
const nn_plugin_entry *nn_registry_entry(const nn_registry *r, int i);
int nn_registry_problem_count(const nn_registry *r);
const nn_plugin_problem *nn_registry_problem(const nn_registry *r, int i);
/* the load problem of a file that would have held plugin `name` (its descriptor declared that
 * name, or the file is NAME.so), or NULL: for "no plugin named X" to say why */
const nn_plugin_problem *nn_registry_problem_named(const nn_registry *r, const char *name);
/* number of files that were examined, and how many of them loaded at least one plugin */
int nn_registry_file_count(const nn_registry *r);

/* returns the entry for (kind, name, device) or NULL with a sentence in err (did-you-mean,
 * or the duplicate's two files, or "FILE failed to load: REASON" for a file that failed to
 * load and declared that name, or is named after it: NAME.so, libNAME.so).
 * device NULL means "cpu". */
const nn_plugin_entry *nn_registry_find(const nn_registry *r, int kind, const char *name,
                                        const char *device, nn_error *err);
/* The first duplicate recorded for device (two files, or one listing it twice, provide the same
 * plugin of that device), or NULL: training refuses the ambiguity, so `devices` and
 * `devices test` say so too. Borrowed. */
const nn_plugin_problem *nn_registry_conflict(const nn_registry *r, const char *device);
/* The problem of a descriptor of kind for device that was refused (the first), or NULL: why
 * `--device TYPE` finds no backend although a pack for TYPE is on the path. Borrowed. */
const nn_plugin_problem *nn_registry_refused(const nn_registry *r, int kind,
                                             const char *device);

#endif
