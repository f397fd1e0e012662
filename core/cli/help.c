/* help.c: `nntrain help [VERB]`: the verbs, their options, the common options and the
 * exit codes. The verb table lives here so that help and dispatch never disagree. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "data/data.h"
#include "params_internal.h"
#include "optim/optim.h"
#include "session.h"

const nn_verb nn_verbs[] = {
    {"train", nn_cmd_train, "train a model described by a model file",
     "  train MODEL.ini [--resume PATH|auto] [--run-dir DIR] [--overwrite] [--no-test]\n"
     "                 [--allow-nonfinite] [--init-from FILE.safetensors]\n"
     "                 [--dist NAME|none] [--dist-timeout S]\n"
     "    writes the run directory (runs/NAME/, or --run-dir, or [train] run_dir): model.ini,\n"
     "    last.safetensors, best.safetensors, logs. One process writes a run directory at a\n"
     "    time; a new run into one that holds a run is refused unless --resume or\n"
     "    --overwrite. --resume FILE continues FILE's run in the run directory: a checkpoint\n"
     "    from elsewhere into a run directory that holds another run (its last.safetensors)\n"
     "    is refused; resume into the checkpoint's own directory (--run-dir) or a new one.\n"
     "    Ctrl-C (or SIGTERM, or SIGHUP when the terminal closes) finishes the step, writes\n"
     "    last.safetensors and\n"
     "    prints the exact command that resumes; a second Ctrl-C quits at once. On resume,\n"
     "    changed keys that apply (epochs, lr, scheduler, loggers) are printed; changes to\n"
     "    layers, loss or transforms are refused. A resume without --seed takes the\n"
     "    checkpoint's seed (and says so); a --seed other than the checkpoint's is refused.\n"
     "    RUN/model.ini records the seed in effect. At the end the test split is evaluated\n"
     "    (skip with --no-test). --allow-nonfinite resumes from weights holding NaN/Inf\n"
     "    --init-from FILE (= --set train.init_from=FILE) starts a new run from the weights\n"
     "    of a safetensors file: a PyTorch state dict (names as `export --format\n"
     "    safetensors-torch` writes them) or a checkpoint. [train] init_map =\n"
     "    'features.0.=conv1., module.=' renames the file's tensors by prefix; init_strict =\n"
     "    false keeps the initial values of tensors the file lacks. What was not loaded is\n"
     "    listed. Shapes must match. A resumed run ignores it\n"
     "  Data-parallel training on several processes and machines (docs/distributed.md):\n"
     "    mpirun -np 4 nntrain train MODEL.ini                    four processes, one host\n"
     "    mpirun -np 8 -H node1:4,node2:4 nntrain train MODEL.ini  two hosts\n"
     "    srun -n 8 --mpi=pmix nntrain train MODEL.ini             under Slurm\n"
     "    Started by a launcher, the processes split each global batch (batch_size) between\n"
     "    them and sum their gradients over MPI; rank 0 alone writes the run directory and\n"
     "    the console. Same model file, checkpoints and logs as one process; a checkpoint\n"
     "    resumes on any number of processes. The data files must be readable on every host.\n"
     "    --dist NAME  communicator plugin (default mpi when a launcher started nntrain;\n"
     "                 none: each process trains alone)\n"
     "    --dist-timeout S  longest wait for the other processes before every process is\n"
     "                 ended with a message (default 300)\n"},
    {"eval", nn_cmd_eval, "evaluate a checkpoint on the test split",
     "  eval MODEL.ini --checkpoint PATH [--split test|val] [--allow-nonfinite]\n"
     "    loss, accuracy, top-k, per-class accuracy and the confusion matrix; --split val\n"
     "    evaluates the validation part exactly as training split it: with the checkpoint's\n"
     "    seed, and refused when --seed or a [data] key (but test_*) differs from its run's.\n"
     "    When the checkpoint is in a run directory, the run's loggers get an eval record\n"},
    {"predict", nn_cmd_predict, "write predictions of a checkpoint as CSV",
     "  predict MODEL.ini --checkpoint PATH [--split test|val] [--limit N] [--output FILE]\n"
     "                   [--allow-nonfinite]\n"
     "    one row per sample: index, label, predicted class, its probability, and the\n"
     "    probability of every class; for regression (F32 targets): index, target_0...,\n"
     "    output_0...; --limit N: the first N samples (0, the default: all). --output FILE\n"
     "    is replaced at the end, never left half-written (a link is followed; a device or a\n"
     "    FIFO such as /dev/stdout is written as it is)\n"
     "  predict MODEL.ini --checkpoint PATH --input FILE... [--limit N] [--output FILE]\n"
     "    predictions for your own files (repeat --input or list several after it); what a\n"
     "    FILE is depends on the [data] plugin (see `nntrain plugins show TYPE`): e.g. an IDX\n"
     "    images file, a CSV with the training feature columns (matched by header name), a\n"
     "    PNG or a directory of PNGs. Rows: input (FILE:RECORD), predicted class, its\n"
     "    probability, and the probability of every class (no label: it is unknown).\n"
     "    RECORD is where the sample is in FILE, as the file's kind counts: an IDX or CIFAR\n"
     "    file's 0-based record index (FILE:0 is the first image); a CSV file's line number,\n"
     "    1-based with the header as line 1 (FILE:2 is the first row, as an editor shows\n"
     "    it); a text file's 1-based line. An image or audio file is named by its path\n"},
    {"cv", nn_cmd_cv, "K-fold cross-validation",
     "  cv MODEL.ini [--folds K] [--run-dir DIR] [--resume | --overwrite]\n"
     "    trains K times (runs/NAME/fold-k), each validated on one fold of the training data,\n"
     "    and prints a table with mean and standard deviation. --resume continues an\n"
     "    interrupted cv: completed folds keep their figures (fold-k/cv_fold.txt), the others\n"
     "    go on from their checkpoints, and the table is the uninterrupted one\n"},
    {"export", nn_cmd_export, "write a trained model as ONNX or as PyTorch weights",
     "  export MODEL.ini --checkpoint PATH [--format onnx|safetensors-torch] [-o FILE]\n"
     "                  [--opset N] [--allow-nonfinite]\n"
     "    onnx (the default): the evaluation graph, opset 17 (--opset up to 21), for ONNX\n"
     "    Runtime and the like: input \"input\" [N, sample...] as the [data] plugin gives\n"
     "    samples, the transforms evaluation runs (normalize with its fitted statistics) as\n"
     "    the first nodes, batch norm with its running statistics, no dropout; output\n"
     "    \"output\" and, for classification, \"probabilities\" (as predict prints them);\n"
     "    class names in the metadata. N is dynamic. A layer or transform whose plugin\n"
     "    cannot describe itself in ONNX stops the export with its name.\n"
     "    safetensors-torch: only the weights, under PyTorch's state-dict names and layouts\n"
     "    (linear [out, in], conv OIHW, batch norm running_mean/running_var/\n"
     "    num_batches_tracked), for module.load_state_dict(safetensors.torch.load_file(F)).\n"
     "    -o defaults to the checkpoint's name with .onnx or .torch.safetensors. The test\n"
     "    split's files are opened as eval opens them (class names, sample shape)\n"},
    {"summary", nn_cmd_summary, "layers, shapes, parameters, FLOPs and memory of a model",
     "  summary MODEL.ini\n"},
    {"help", nn_cmd_help, "show help for nntrain or one command", "  help [COMMAND]\n"},
    {"plugins", nn_cmd_plugins, "list, inspect and check plugins",
     "  plugins [--kind KIND]        list loaded plugins (and files that failed to load)\n"
     "  plugins show NAME [--kind KIND] [--device DEV]\n"
     "                               summary, license, file and every parameter of a\n"
     "                               plugin, each device's variant; --device DEV: only\n"
     "                               DEV's type's (a type no backend provides: exit 2);\n"
     "                               says which file overrides which (--plugin-override)\n"
     "                               or which duplicate file was refused\n"
     "  plugins check [DIR...]       load each plugin file in a child process and report\n"
     "                               its status (exports, schema, what its kind needs);\n"
     "                               exits 3 if any file is broken\n"
     "  plugins test NAME|--all [--kind KIND] [--param KEY=VALUE]... [--steps N]\n"
     "               [--timeout S] [--no-fork]\n"
     "                               conformance checks, each in a child process: schema,\n"
     "                               exports, gradients against finite differences,\n"
     "                               determinism, no allocation per step, grad_inputs NULL,\n"
     "                               leaks over 1000 create/destroy, state round trips, the\n"
     "                               LR schedule; a table of results, exit 1 on a failure\n"
     "                               or when no check of the plugin's kind could run (with\n"
     "                               --all such plugins are listed as not checked).\n"
     "                               --param adds a key to every case (a dataset's files),\n"
     "                               --device DEV tests the plugins of that device\n"},
    {"devices", nn_cmd_devices, "list device types; check a device pack against the CPU",
     "  devices                      each device type (cpu and every backend plugin), its\n"
     "                               device count and description, and the layers, losses\n"
     "                               and optimizers it implements\n"
     "  devices test TYPE[:N] [--only NAME] [--timeout S]\n"
     "                               checks every layer, loss and optimizer plugin of TYPE\n"
     "                               against the CPU plugin of the same name (schemas,\n"
     "                               forward, backward, steps) and its device ops against the\n"
     "                               host's, each in a child process; a table with the worst\n"
     "                               error per check; exits 1 if any check fails\n"},
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
         "  0 success    1 failure (message on stderr)\n"
         "  2 bad command line, or a model file that cannot be read or parsed (its keys and\n"
         "    values are checked later: a bad one is a failure, 1)\n"
         "  3 broken plugins (plugins check)    4 non-finite loss or gradient\n"
         "  70 a plugin called exit() or _exit(): the command did not finish (stderr names\n"
         "     the plugin call or plugin file load that was running)\n"
         "  130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (after writing a checkpoint once\n"
         "          training had started)\n"
         "  A closed output pipe (nntrain train ... | head -1) ends no run: SIGPIPE is ignored,\n"
         "  the console logger stops at the failed write (saying so on stderr), training goes\n"
         "  on to its end and its checkpoints, then nntrain exits 1: its output was lost");
}

/* a section's keys, from the same schema that checks them */
static void section_keys(const char *title, const nn_param_spec *keys)
{
    puts(title);
    for (const nn_param_spec *k = keys; k->name; k++) {
        char desc[200];
        nn_param_spec_describe(k, desc, sizeof desc);
        printf("  %-20s %s%s%s\n      %s\n", k->name, desc,
               k->required ? ", required" : k->def ? ", default " : "", k->def ? k->def : "",
               k->doc);
    }
    puts("");
}

int nn_cmd_help(nn_cli *cli)
{
    if (cli->argc > 0) {
        for (const nn_verb *v = nn_verbs; v->name; v++)
            if (strcmp(v->name, cli->argv[0]) == 0) {
                printf("nntrain %s: %s\n\nUsage:\n%s\n", v->name, v->summary, v->usage);
                if (strcmp(v->name, "train") == 0) {
                    section_keys("Keys of the model file's [train] section:", nn_train_schema());
                    section_keys("Keys of [scheduler] that nntrain reads itself (the others go "
                                 "to the scheduler plugin):", nn_optim_scheduler_core_keys());
                    section_keys("Keys of [data] that nntrain reads itself (the others go to "
                                 "the dataset plugin):", nn_data_schema());
                }
                common_options();
                return NN_EXIT_OK;
            }
        nn_cli_error("no command '%s'; `nntrain help` lists the commands", cli->argv[0]);
        return NN_EXIT_USAGE;
    }
    puts("nntrain: train neural networks from one model file, with plugins for everything.\n"
         "\nUsage: nntrain COMMAND [ARGS] [OPTIONS]\n"
         "       nntrain COMMAND --help    (the same as nntrain help COMMAND)\n\nCommands:");
    for (const nn_verb *v = nn_verbs; v->name; v++)
        printf("  %-10s %s\n", v->name, v->summary);
    puts("  --version  print the version and plugin ABI\n");
    common_options();
    return NN_EXIT_OK;
}
