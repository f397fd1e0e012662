/* cli.h: what every verb of the nntrain executable shares: the common options, the
 * registry they describe, and the verb table. Verbs return process exit codes. */
#ifndef NN_CLI_H
#define NN_CLI_H

#include <stdio.h>

#include "registry.h"

/* exit codes, documented by `nntrain help` */
enum {
    NN_EXIT_OK = 0,
    NN_EXIT_FAIL = 1,      /* the command ran and failed (bad config, data, plugin) */
    NN_EXIT_USAGE = 2,     /* bad command line */
    NN_EXIT_BROKEN = 3,    /* `plugins check`: some plugin is broken */
    NN_EXIT_NONFINITE = 4, /* training stopped on a non-finite loss or gradient */
    NN_EXIT_PLUGIN_EXIT = 70, /* a plugin called exit() or _exit(): the command did not finish */
    NN_EXIT_SIGINT = 130,  /* interrupted by SIGINT; a checkpoint was written */
    NN_EXIT_SIGTERM = 143, /* interrupted by SIGTERM; a checkpoint was written */
    NN_EXIT_SIGHUP = 129,  /* the terminal closed (SIGHUP); a checkpoint was written */
};

/* exit_guard.c: finds the C library's _exit/_Exit behind the executable's; call first in
 * main */
void nn_cli_exit_guard_init(void);

#define NN_CLI_MAX_DIRS 32
#define NN_CLI_MAX_SETS 64

typedef struct nn_cli {
    const char *verb;    /* "train", "plugins", ... */
    const char *plugin_dirs[NN_CLI_MAX_DIRS];
    int n_plugin_dirs;
    /* --set a.b=v and --unset a.b, in command-line order; an --unset is stored as the
     * equivalent "a.b=" (an empty value removes the key), with is_unset[i] set */
    const char *sets[NN_CLI_MAX_SETS];
    unsigned char is_unset[NN_CLI_MAX_SETS];
    int n_sets;
    int allow_insecure;
    int allow_override;
    const char *device;  /* --device, "cpu" by default */
    int device_given;    /* --device was on the command line (`plugins show` filters by it) */
    int threads;         /* --threads, 0 = choose */
    long long seed;      /* --seed, -1 = from the model file */
    int verbosity;       /* --quiet -1, --verbose 1 */
    /* positional arguments left after the common options */
    int argc;
    char **argv;
    /* the whole command line as given (argv[0] is the program), for messages */
    int raw_argc;
    char **raw_argv;
} nn_cli;

typedef struct nn_verb {
    const char *name;
    int (*run)(nn_cli *cli);
    const char *summary;
    const char *usage; /* options of the verb, one per line */
} nn_verb;

extern const nn_verb nn_verbs[];

/* Parses the common options out of argv (anywhere after the verb); the rest stays in
 * cli->argc/argv in order. returns 0, or NN_EXIT_USAGE after printing why. */
int nn_cli_parse(nn_cli *cli, const char *verb, int argc, char **argv);

/* The plugin directory of this installation (next to the executable), or NULL. */
const char *nn_cli_install_plugindir(void);

/* A registry scanned in the standard order; prints the reason and returns NULL on failure. */
nn_registry *nn_cli_registry(const nn_cli *cli);

/* Takes "--flag VALUE" or "--flag=VALUE" at argv[*i]; returns the value or NULL. */
const char *nn_cli_value(int argc, char **argv, int *i, const char *flag);

/* 1 (after saying which, for exit 2) when one of flags (NULL-terminated; "--output|-o" for
 * two spellings of one option) is given twice in argv: options that take one value never
 * silently keep the last. */
int nn_cli_once(const char *verb, int argc, char **argv, const char *const *flags);

/* main.c: 1 when nntrain started with its standard output closed (`>&-`); fd 1 is then
 * /dev/null, and a command whose result goes there must say so instead of losing it */
int nn_cli_stdout_closed(void);

/* "nntrain: " + message on stderr */
void nn_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "nntrain: warning: " + message on stderr */
void nn_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Loads the model file named by the first positional argument and applies every --set.
 * Prints the reason and returns NULL on failure. */
struct nn_config *nn_cli_model(const nn_cli *cli, const char *verb);
/* the same without printing: NULL with err filled */
struct nn_config *nn_cli_model_load(const nn_cli *cli, const char *verb, nn_error *err);

/* Chooses the compute threads before any plugin (and so OpenMP) is loaded: --threads, else
 * OMP_NUM_THREADS if set, else the online cores; OMP_WAIT_POLICY=passive unless set, because
 * spin-waiting collapses when the loader shares the cores (TOOLCHAIN.md). */
void nn_cli_threads(const nn_cli *cli);

/* output_guard.c: 1 (with a message, for exit 2) when an existing output file is one the
 * command reads (its model file cli->argv[0], the checkpoint, the n_inputs --input files) or
 * one a run depends on: a file the model's [data] or [transform.*] keys name or one below a
 * directory they name, an nntrain checkpoint, or a run directory's .lock, model.ini or logger
 * files (a run directory holds a .lock or a trainer's last/best checkpoint). reg finds the
 * loggers' default file names; cfg is the model with --set applied. */
int nn_cli_output_guard(const nn_cli *cli, const char *verb, const char *output,
                        const char *checkpoint, const char *const *inputs, int n_inputs,
                        const struct nn_config *cfg, nn_registry *reg);

/* What eval and predict run on: a checkpoint's weights and the test split, the validation
 * part of the training data (split as training split it), or the user's files. */
typedef struct nn_cli_eval_opts {
    const char *checkpoint;
    int val;                    /* the validation part instead of the test split */
    const char *const *inputs;  /* predict --input; n_inputs = 0: none */
    int n_inputs;
    int allow_nonfinite;        /* load a checkpoint holding NaN/Inf */
} nn_cli_eval_opts;

/* Opens the session of eval/predict and loads the checkpoint; prints the reason and returns
 * an exit code on failure. *cfg and *reg are the caller's to free either way. */
struct nn_session;
int nn_cli_eval_session(nn_cli *cli, const char *verb, const nn_cli_eval_opts *eo,
                        struct nn_config **cfg, nn_registry **reg, struct nn_session *s);

/* "layer" -> NN_KIND_LAYER; 0 for an unknown name */
int nn_cli_kind_from_name(const char *s);
/* `plugins test ...` (argv after "test") on the scanned registry r */
int nn_cli_plugins_test(nn_cli *cli, nn_registry *r, int argc, char **argv);

int nn_cmd_help(nn_cli *cli);
int nn_cmd_plugins(nn_cli *cli);
int nn_cmd_train(nn_cli *cli);
int nn_cmd_eval(nn_cli *cli);
int nn_cmd_predict(nn_cli *cli);
int nn_cmd_cv(nn_cli *cli);
int nn_cmd_summary(nn_cli *cli);
int nn_cmd_devices(nn_cli *cli);
int nn_cmd_export(nn_cli *cli);

#endif
