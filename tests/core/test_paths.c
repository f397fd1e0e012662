/* test_paths.c: every path nntrain reads, fed what is not a regular file. For each command
 * that takes a path (the table `uses`) and each kind of non-regular file (the table `kinds`),
 * the real nntrain must exit on its own within a bounded time (no hang on a FIFO, no endless
 * read of /dev/zero), with status 1 or 2 and a message naming the path and what it is.
 * A reader converted to nn_file_open joins the property with one row in `uses`. */
#include "helpers.h" /* first: it defines _GNU_SOURCE */

#include <sys/socket.h>
#include <sys/un.h>

#define DEADLINE_S 30.0

/* In args: "@" is the bad path, "MODEL" a working model file, "CKPT" a checkpoint trained
 * from it, "RUN" a fresh run directory, "PLUGINS" the directory of nntest_fault. */
typedef struct path_use {
    const char *name; /* for messages */
    const char *role; /* how nntrain names the file: "model file", "checkpoint", ... */
    const char *args[16];
} path_use;

static const path_use uses[] = {
    {"train MODEL", "model file", {"train", "@", NULL}},
    {"eval MODEL", "model file", {"eval", "@", "--checkpoint", "CKPT", NULL}},
    {"predict MODEL", "model file", {"predict", "@", "--checkpoint", "CKPT", NULL}},
    {"cv MODEL", "model file", {"cv", "@", NULL}},
    {"summary MODEL", "model file", {"summary", "@", NULL}},
    {"eval --checkpoint", "checkpoint",
     {"eval", "MODEL", "--checkpoint", "@", "--plugin-dir", "PLUGINS", NULL}},
    {"predict --checkpoint", "checkpoint",
     {"predict", "MODEL", "--checkpoint", "@", "--plugin-dir", "PLUGINS", NULL}},
    {"train --resume", "checkpoint",
     {"train", "MODEL", "--resume", "@", "--run-dir", "RUN", "--plugin-dir", "PLUGINS", NULL}},
    /* dataset inputs join here once their plugin opens files with nn_file_open, e.g.
     * {"predict --input (idx)", "images file", {"predict", "IDXMODEL", "--checkpoint",
     *  "IDXCKPT", "--input", "@", NULL}}, with IDXMODEL/IDXCKPT made in setup() */
};

typedef struct path_kind {
    const char *name;
    const char *is; /* what the message must say the path is */
} path_kind;

enum { K_FIFO, K_DIR, K_CHARDEV, K_LINK_TO_FIFO, K_SOCKET };
static const path_kind kinds[] = {
    [K_FIFO] = {"a FIFO", "is a FIFO"},
    [K_DIR] = {"a directory", "is a directory"},
    [K_CHARDEV] = {"a character device", "is a character device"},
    [K_LINK_TO_FIFO] = {"a symbolic link to a FIFO", "is a FIFO"},
    [K_SOCKET] = {"a socket", "is a socket"},
};

static char *dir;
static char model[4200], ckpt[4200], plugins[4200], run_dir[4200];
static int sock = -1;

static void setup(void)
{
    dir = tmpdir_new();
    fault_plugins(dir, plugins, sizeof plugins);
    snprintf(model, sizeof model, "%s/model.ini", dir);
    write_text(model, "[train]\nepochs = 1\nbatch_size = 8\n[data]\ntype = nntest_fault\n"
                      "[loss]\ntype = nntest_fault\n[optimizer]\ntype = nntest_fault\n"
                      "[layer.fc]\ntype = dense\nunits = 2\n"
                      "[logger.quiet]\ntype = nntest_fault\n");
    char first_run[4000];
    snprintf(first_run, sizeof first_run, "%s/first", dir);
    run_result r;
    run_nntrain(&r, "train", model, "--plugin-dir", plugins, "--run-dir", first_run,
                "--no-test", "--threads", "1", NULL);
    assert_exit(&r, 0);
    snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", first_run);
    snprintf(run_dir, sizeof run_dir, "%s/resumed", dir);
}

static void teardown(void)
{
    if (sock >= 0)
        close(sock);
    tmpdir_free(dir);
}

TestSuite(paths, .init = setup, .fini = teardown, .timeout = 600);

/* makes a non-regular file of kind k; returns its path (static storage) */
static const char *make_kind(int k)
{
    static char p[4200];
    switch (k) {
    case K_FIFO:
        snprintf(p, sizeof p, "%s/pipe", dir);
        cr_assert_eq(mkfifo(p, 0600), 0);
        break;
    case K_DIR:
        snprintf(p, sizeof p, "%s/adir.ini", dir);
        cr_assert_eq(mkdir(p, 0700), 0);
        break;
    case K_CHARDEV:
        snprintf(p, sizeof p, "/dev/zero"); /* reading it would never end */
        break;
    case K_LINK_TO_FIFO: {
        char fifo[4300];
        snprintf(fifo, sizeof fifo, "%s/pipe2", dir);
        cr_assert_eq(mkfifo(fifo, 0600), 0);
        snprintf(p, sizeof p, "%s/link.safetensors", dir);
        cr_assert_eq(symlink(fifo, p), 0);
        break;
    }
    case K_SOCKET: {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s/sock", dir);
        sock = socket(AF_UNIX, SOCK_STREAM, 0);
        cr_assert_geq(sock, 0);
        cr_assert_eq(bind(sock, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
        snprintf(p, sizeof p, "%s", a.sun_path);
        break;
    }
    }
    return p;
}

static void feed_every_use(int k)
{
    const char *bad = make_kind(k);
    for (size_t u = 0; u < sizeof uses / sizeof *uses; u++) {
        const char *args[20];
        int n = 0;
        for (const char *const *a = uses[u].args; *a; a++)
            args[n++] = !strcmp(*a, "@")         ? bad
                        : !strcmp(*a, "MODEL")   ? model
                        : !strcmp(*a, "CKPT")    ? ckpt
                        : !strcmp(*a, "RUN")     ? run_dir
                        : !strcmp(*a, "PLUGINS") ? plugins
                                                 : *a;
        args[n++] = "--threads";
        args[n++] = "1";
        args[n] = NULL;
        run_result r;
        run_nntrain_argv(&r, DEADLINE_S, args);
        cr_assert(!r.timed_out, "%s given %s (%s): still running after %g s; output:\n%s",
                  uses[u].name, kinds[k].name, bad, DEADLINE_S, r.out);
        cr_assert(r.exited && (r.code == 1 || r.code == 2),
                  "%s given %s (%s): expected exit 1 or 2, got %s %d; output:\n%s", uses[u].name,
                  kinds[k].name, bad, r.exited ? "exit" : "signal",
                  r.exited ? r.code : -r.code, r.out);
        char want[4400];
        snprintf(want, sizeof want, "%s %s %s", uses[u].role, bad, kinds[k].is);
        cr_assert(strstr(r.out, want), "%s given %s: expected \"%s\" in:\n%s", uses[u].name,
                  kinds[k].name, want, r.out);
    }
}

Test(paths, every_reader_refuses_a_fifo_at_once) { feed_every_use(K_FIFO); }
Test(paths, every_reader_refuses_a_directory) { feed_every_use(K_DIR); }
Test(paths, every_reader_refuses_a_character_device) { feed_every_use(K_CHARDEV); }
Test(paths, every_reader_refuses_a_symlink_to_a_fifo) { feed_every_use(K_LINK_TO_FIFO); }
Test(paths, every_reader_refuses_a_socket) { feed_every_use(K_SOCKET); }

Test(paths, the_same_uses_with_regular_files_succeed)
{
    /* the property above is not vacuous: with the real files each use gets past its path */
    run_result r;
    run_nntrain(&r, "eval", model, "--checkpoint", ckpt, "--plugin-dir", plugins, "--threads",
                "1", NULL);
    assert_exit(&r, 0);
    run_nntrain(&r, "train", model, "--resume", ckpt, "--run-dir", run_dir, "--plugin-dir",
                plugins, "--threads", "1", "--no-test", "--set", "train.epochs=2", NULL);
    assert_exit(&r, 0);
    run_nntrain(&r, "summary", model, "--plugin-dir", plugins, NULL);
    assert_exit(&r, 0);
}
