/* conformance.h: what `nntrain devices` needs from the core: each device type's count and
 * description, and the conformance run that checks a device type's layer, loss and optimizer
 * plugins against the CPU plugins of the same names, and its device ops against the host's.
 * Every piece of plugin code runs in a child process, so a crashing pack is a result. */
#ifndef NN_CONFORMANCE_H
#define NN_CONFORMANCE_H

#include <stdio.h>

#include "registry.h"

typedef struct nn_devtype_info {
    char type[48];     /* "cpu", "sim" */
    const char *path;  /* the backend plugin's file; NULL for cpu */
    int count;         /* devices; -1 when the backend could not say */
    char line[600];    /* device 0's describe() line, or why it could not be had */
} nn_devtype_info;

/* Fills info for a device type (cpu, or the type of a backend plugin in reg), describing its
 * device `index`. A backend is asked in a child process: one that crashes is described, not
 * fatal. */
void nn_devtype_probe(nn_registry *reg, const char *type, int index, nn_devtype_info *info);

typedef struct nn_conformance_opts {
    const char *device; /* TYPE or TYPE:N; not cpu */
    const char *only;   /* NULL, or check only plugins (and ops) of this name */
    double timeout_s;   /* per check; 0 = 120 s */
} nn_conformance_opts;

/* Runs every check and prints one table row per check to out (a second, indented line says
 * why a check failed). returns NN_OK with the counts, or an error (unknown device type, or
 * cpu, which has nothing to be compared with) before any check ran. */
int nn_conformance_run(nn_registry *reg, const nn_conformance_opts *opts, FILE *out,
                       int *n_checks, int *n_failed, nn_error *err);

#endif
