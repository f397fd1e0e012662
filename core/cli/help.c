/* help.c: `nntrain help [VERB]`: the verbs, their options, the common options and the
 * exit codes. The verb table lives here so that help and dispatch never disagree. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "params_internal.h"
#include "session.h"

const nn_verb nn_verbs[] = {
    {"train", nn_cmd_train, "train a model described by a model file",
     "  train MODEL.ini [--resume PATH|auto] [--run-dir DIR] [--no-test]\n"
     "    writes runs/NAME/ (model.ini, last.safetensors, best.safetensors, logs); Ctrl-C\n"
     "    finishes the step, writes last.safetensors and prints how to resume; at the end\n"
     "    the test split is evaluated (skip with --no-test)\n"},
    {"eval", nn_cmd_eval, "evaluate a checkpoint on the test split",
     "  eval MODEL.ini --checkpoint PATH [--split test|val]\n"
     "    loss, accuracy, top-k, per-class accuracy and the confusion matrix\n"},
    {"predict", nn_cmd_predict, "write predictions of a checkpoint as CSV",
     "  predict MODEL.ini --checkpoint PATH [--split test|val] [--limit N] [--output FILE]\n"
     "    one row per sample: index, label, predicted class, its probability, and the\n"
     "    probability of every class\n"
     "  predict MODEL.ini --checkpoint PATH --input FILE... [--limit N] [--output FILE]\n"
     "    predictions for your own files (repeat --input or list several after it); what a\n"
     "    FILE is depends on the [data] plugin (see `nntrain plugins show TYPE`): e.g. an IDX\n"
     "    images file, a CSV with the training feature columns, a PNG or a directory of\n"
     "    PNGs. Rows: input (FILE:RECORD), predicted class, its probability, and the\n"
     "    probability of every class (no label: it is unknown)\n"},
    {"cv", nn_cmd_cv, "K-fold cross-validation",
     "  cv MODEL.ini [--folds K]\n"
     "    trains K times (runs/NAME/fold-k), each validated on one fold of the training data,\n"
     "    and prints a table with mean and standard deviation\n"},
    {"summary", nn_cmd_summary, "layers, shapes, parameters, FLOPs and memory of a model",
     "  summary MODEL.ini\n"},
    {"help", nn_cmd_help, "show help for nntrain or one command", "  help [COMMAND]\n"},
    {"plugins", nn_cmd_plugins, "list, inspect and check plugins",
     "  plugins [--kind KIND]        list loaded plugins (and files that failed to load)\n"
     "  plugins show NAME [--kind KIND] [--device DEV]\n"
     "                               summary, license and every parameter of a plugin\n"
     "  plugins check [DIR...]       load each plugin file in a child process and report\n"
     "                               its status; exits 3 if any file is broken\n"},
    {NULL, NULL, NULL, NULL},
};

static void common_options(void)
{
    puts("Options every command takes:\n"
         "  --plugin-dir DIR            look for plugins in DIR first (repeatable)\n"
         "  --allow-insecure-plugins    load plugins from group/world-writable places\n"
         "  --plugin-override           on duplicate plugin names, the first found wins\n"
         "  --set SECTION.KEY=VALUE     override a model-file key (repeatable)\n"
         "  --unset SECTION.KEY         remove a model-file key, so its default applies\n"
         "                              (repeatable; --set SECTION.KEY= does the same), e.g.\n"
         "                              --set optimizer.type=adamw --unset optimizer.momentum\n"
         "  --seed N, --threads N, --device DEV, --quiet, --verbose\n"
         "Plugin search order: each --plugin-dir, then NNTRAIN_PLUGIN_PATH (colon-separated),\n"
         "then the plugin directory of this installation.\n"
         "\n"
         "Exit codes:\n"
         "  0 success    1 failure (message on stderr)    2 bad command line\n"
         "  3 broken plugins (plugins check)    4 non-finite loss or gradient\n"
         "  130/143 interrupted by SIGINT/SIGTERM after writing a checkpoint");
}

/* the [train] section's keys, from the same schema that checks them */
static void train_keys(void)
{
    puts("Keys of the model file's [train] section:");
    for (const nn_param_spec *k = nn_train_schema(); k->name; k++) {
        char desc[200];
        nn_param_spec_describe(k, desc, sizeof desc);
        printf("  %-20s %s%s%s\n      %s\n", k->name, desc, k->def ? ", default " : "",
               k->def ? k->def : "", k->doc);
    }
    puts("");
}

int nn_cmd_help(nn_cli *cli)
{
    if (cli->argc > 0) {
        for (const nn_verb *v = nn_verbs; v->name; v++)
            if (strcmp(v->name, cli->argv[0]) == 0) {
                printf("nntrain %s: %s\n\nUsage:\n%s\n", v->name, v->summary, v->usage);
                if (strcmp(v->name, "train") == 0)
                    train_keys();
                common_options();
                return NN_EXIT_OK;
            }
        nn_cli_error("no command '%s'; `nntrain help` lists the commands", cli->argv[0]);
        return NN_EXIT_USAGE;
    }
    puts("nntrain: train neural networks from one model file, with plugins for everything.\n"
         "\nUsage: nntrain COMMAND [ARGS] [OPTIONS]\n\nCommands:");
    for (const nn_verb *v = nn_verbs; v->name; v++)
        printf("  %-10s %s\n", v->name, v->summary);
    puts("  --version  print the version and plugin ABI\n");
    common_options();
    return NN_EXIT_OK;
}
