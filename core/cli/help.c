/* help.c: `nntrain help [VERB]`: the verbs, their options, the common options and the
 * exit codes. The verb table lives here so that help and dispatch never disagree. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const nn_verb nn_verbs[] = {
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
         "  --seed N, --threads N, --device DEV, --quiet, --verbose\n"
         "Plugin search order: each --plugin-dir, then NNTRAIN_PLUGIN_PATH (colon-separated),\n"
         "then the plugin directory of this installation.\n"
         "\n"
         "Exit codes:\n"
         "  0 success    1 failure (message on stderr)    2 bad command line\n"
         "  3 broken plugins (plugins check)    4 non-finite loss or gradient\n"
         "  130/143 interrupted by SIGINT/SIGTERM after writing a checkpoint");
}

int nn_cmd_help(nn_cli *cli)
{
    if (cli->argc > 0) {
        for (const nn_verb *v = nn_verbs; v->name; v++)
            if (strcmp(v->name, cli->argv[0]) == 0) {
                printf("nntrain %s: %s\n\nUsage:\n%s\n", v->name, v->summary, v->usage);
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
