/* plugtest.h: the plugin conformance runner behind `nntrain plugins test` (core only; the CLI
 * and the tests share it). It runs every check of one plugin, each in a child process so a
 * crash or a hang is reported rather than fatal, and prints a table. Plugins never see it. */
#ifndef NN_PLUGTEST_H
#define NN_PLUGTEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "registry.h"

/* Heap accounting that only the executable can provide (it interposes malloc). */
typedef struct nn_alloc_counter {
    void (*start)(void); /* counts allocations made by any thread from now on */
    /* stops; *total = allocations since start, *exempt = those made inside oneDNN, whose
     * 2.6 release allocates a little in every primitive execution (DESIGN.md: reported, not
     * failed); site describes the first other one ("dense.so dense_forward+0x2a") */
    void (*stop)(long *total, long *exempt, char *site, size_t cap);
    /* on: from now on every allocation adds one to live() and every free takes one away,
     * process-wide (off: live() stays as it is); a leak check reads live() around cycles */
    void (*track)(int on);
    long (*live)(void);
} nn_alloc_counter;

typedef struct nn_plugtest_opts {
    const char *device;            /* NULL = "cpu" */
    const char *const *params;     /* "key=value" given to every case (NULL-terminated) */
    uint64_t seed;                 /* 0 = 1 */
    int schedule_steps;            /* LR schedule entries printed for a scheduler; 0 = 20 */
    double timeout_s;              /* per check; 0 = 120 s */
    int no_fork;                   /* run the checks in this process (debugging) */
    const nn_alloc_counter *alloc; /* NULL: the allocation and leak checks are skipped */
    FILE *out;                     /* where the table goes; NULL = stdout */
} nn_plugtest_opts;

typedef struct nn_plugtest_summary {
    int passed, failed, skipped;
    int unchecked; /* no failure, but every check of the plugin's kind was skipped */
} nn_plugtest_summary;

/* Runs every check of e (an entry of reg) and prints the table. returns NN_OK when no check
 * failed and at least one check of its kind ran, NN_EINVAL when some failed (sum counts them)
 * or none ran (sum->unchecked, err says why), or the runner's own error. */
int nn_plugtest_run(nn_registry *reg, const nn_plugin_entry *e, const nn_plugtest_opts *o,
                    nn_plugtest_summary *sum, nn_error *err);

/* ---- static checks, shared with `plugins check` ---- */

/* The defined dynamic symbols of the ELF file at path other than nn_plugin_descriptors
 * (sanitizer indicators ignored), space-separated into names. returns their number, or < 0
 * with err filled when the file cannot be read as ELF. */
int nn_plugin_extra_symbols(const char *path, char *names, size_t cap, nn_error *err);

/* What a kind needs beyond a valid schema: an optimizer's float `lr` (the core reads the base
 * learning rate from it), no key the core takes from the same section (type, a layer's
 * inputs/lr_mult/weight_decay_mult, a scheduler's warm-up keys, a dataset's val_*...).
 * returns NN_OK or NN_EABI with the first problem in err. */
int nn_plugin_check_kind(const nn_plugin_desc *d, nn_error *err);

#endif
