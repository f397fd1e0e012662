/* main.c: the nntrain executable's entry: finds the verb and hands it the common options.
 * Each verb lives in its own file; this one only dispatches. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "signals.h"
#include "crash.h"
#include "nntrain/nntrain.h"

/* 1 when a command's arguments (before a "--") ask for its help: `nntrain train --help` is
 * `nntrain help train` */
static int asks_help(int argc, char **argv)
{
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static int stdout_closed;

int nn_cli_stdout_closed(void)
{
    return stdout_closed;
}

/* results printed to a full disk or a closed file are lost: that is a failure */
static int flushed(int rc)
{
    int ok = fflush(stdout) == 0, e = errno;
    if (!ok || ferror(stdout)) {
        nn_cli_error("cannot write the output: %s", !ok ? strerror(e)
                     : "an earlier write failed (a full disk, or a closed file)");
        if (rc == NN_EXIT_OK)
            rc = NN_EXIT_FAIL;
    }
    return rc;
}

/* a command whose result goes to standard output, started with it closed */
static int closed_result(const char *verb)
{
    nn_cli_error("%s: the standard output is closed, and the result goes there: open it (> FILE, "
                 "or > /dev/null to discard)", verb);
    return NN_EXIT_FAIL;
}

static int run(int argc, char **argv)
{
    /* a closed standard descriptor (`>&-`) would be reused by the next open (libuv's loop,
     * a data file) and written as output: keep 0-2 taken, on /dev/null */
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1)
            continue;
        stdout_closed |= fd == 1;
        if (open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
            return NN_EXIT_FAIL;
    }
    /* before any thread exists: every thread inherits SIGINT/SIGTERM blocked (signals.h) */
    nn_signals_init();
    nn_crash_install(); /* a plugin that crashes is named; without it the run still works */
    /* a plugin's exit() or _exit() must not pass for the command's own success */
    nn_cli_exit_guard_init();
    nn_crash_guard_exit(NN_EXIT_PLUGIN_EXIT);
    /* a file-size limit (ulimit -f) makes a write fail with EFBIG, which every writer reports
     * by name (keeping the previous checkpoint), instead of killing the process silently */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        nn_cli cli = {0};
        nn_cmd_help(&cli);
        return NN_EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "version") == 0) {
        if (stdout_closed)
            return closed_result("version");
        printf("nntrain %s (plugin ABI %d.%d)\n", NNTRAIN_VERSION, NN_ABI_MAJOR, NN_ABI_MINOR);
        return flushed(NN_EXIT_OK);
    }
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)
        verb = "help";
    for (const nn_verb *v = nn_verbs; v->name; v++) {
        if (strcmp(v->name, verb) != 0)
            continue;
        nn_cli cli;
        char *topic[] = {argv[1], NULL};
        int help = strcmp(verb, "help") != 0 && asks_help(argc, argv);
        int rc = help ? nn_cli_parse(&cli, "help", 1, topic)
                      : nn_cli_parse(&cli, verb, argc - 2, argv + 2);
        cli.raw_argc = argc;
        cli.raw_argv = argv;
        /* these print their result; predict says it itself (unless --output) */
        static const char *const to_stdout[] = {"eval", "summary", "help", "plugins", "devices"};
        for (size_t k = 0; rc == 0 && stdout_closed && k < sizeof to_stdout / sizeof *to_stdout;
             k++)
            if (strcmp(help ? "help" : verb, to_stdout[k]) == 0)
                rc = closed_result(verb);
        if (rc == 0)
            rc = help ? nn_cmd_help(&cli) : v->run(&cli);
        free(cli.argv);
        return flushed(rc);
    }
    nn_cli_error("unknown command '%s'; `nntrain help` lists the commands", verb);
    return NN_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    int rc = run(argc, argv);
    nn_crash_allow_exit();
    return rc;
}
