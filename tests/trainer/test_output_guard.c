/* test_output_guard.c: `predict --output` and `export -o` never replace a file a run depends
 * on: the data the model's [data] section reads (a file it names, through a link too, or one
 * below a directory it names), an nntrain checkpoint, a run directory's model.ini, .lock and
 * logger files. Each refusal is exit 2 naming what the path is, and the file is kept byte for
 * byte; fresh paths (and re-exports) still work. Test-only; a scratch directory it removes. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "cli_fixture.h"

static void setup(void)
{
    cli_setup("outguard");
}

TestSuite(output_guard, .init = setup, .fini = cli_teardown, .timeout = 120);

static char *text_of(const char *name)
{
    char *t = slurp(name);
    return t ? t : strdup("(missing)");
}

/* `nntrain ARGS` exits 2 with a message holding `says`, and file keeps its bytes */
static void refused(const char *file, const char *says, const char *args)
{
    char *before = text_of(file);
    int rc = nntrain("%s", args);
    char *out = text_of("out.txt"), *after = text_of(file);
    cr_assert_eq(rc, 2, "`%s`: exit %d, expected 2:\n%s", args, rc, out);
    cr_assert(strstr(out, says) && strstr(out, "name another file"),
              "`%s`: the message lacks '%s':\n%s", args, says, out);
    cr_assert_str_eq(before, after, "`%s` changed %s", args, file);
    free(before);
    free(after);
    free(out);
}

static void train_csv(void)
{
    write_file("m.ini", "[train]\nepochs = 1\nbatch_size = 16\nseed = 1\n"
                        "[data]\ntype = csv\npath = train.csv\ntest_path = test.csv\n"
                        "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.1\n"
                        "[logger.csv]\n[logger.c2]\ntype = csv\npath = logs/second.csv\n"
                        "[layer.fc]\ntype = dense\nunits = 3\n");
    write_csv("train.csv", 64, 1);
    write_csv("test.csv", 8, 2);
    cr_assert_eq(nntrain("train m.ini --no-test"), 0, "%s", text_of("out.txt"));
    cr_assert(exists("runs/m/metrics.csv") && exists("runs/m/logs/second.csv") &&
              exists("runs/m/best.safetensors"));
}

#define CK "m.ini --checkpoint runs/m/last.safetensors "

Test(output_guard, files_the_data_section_names_are_refused)
{
    train_csv();
    refused("test.csv", "[data] test_path", "predict " CK "--limit 2 --output test.csv");
    refused("train.csv", "[data] path", "predict " CK "--output train.csv");
    cr_assert_eq(symlink("train.csv", path_in("alias.csv")), 0);
    refused("train.csv", "[data] path", "predict " CK "--output alias.csv");
    /* a key set on the command line counts as the model file's */
    write_csv("other.csv", 8, 3);
    refused("other.csv", "[data] test_path",
            "predict " CK "--set data.test_path=other.csv --output other.csv");
    cr_assert_eq(nntrain("predict " CK "--output fresh.csv"), 0, "%s", text_of("out.txt"));
    cr_assert_eq(nntrain("predict " CK "--output fresh.csv"), 0, "%s", text_of("out.txt"));
}

Test(output_guard, files_below_a_data_directory_are_refused)
{
    cr_assert_eq(mkdir(path_in("d"), 0755), 0);
    write_idx("d/tr-img", "d/tr-lab", 60, 6, 1);
    write_idx("d/te-img", "d/te-lab", 6, 6, 2);
    write_file("i.ini", "[train]\nepochs = 1\nbatch_size = 16\nseed = 1\n"
                        "[data]\ntype = idx\ndir = d\ntrain_images = tr-img\ntrain_labels = tr-lab\n"
                        "test_images = te-img\ntest_labels = te-lab\nclass_names = a,b,c\n"
                        "[loss]\ntype = cross_entropy\n[optimizer]\ntype = sgd\nlr = 0.1\n"
                        "[layer.flat]\ntype = flatten\n[layer.fc]\ntype = dense\nunits = 3\n");
    cr_assert_eq(nntrain("train i.ini --no-test"), 0, "%s", text_of("out.txt"));
    refused("d/te-img", "below the model's [data] dir's directory d",
            "predict i.ini --checkpoint runs/i/last.safetensors --limit 2 --output d/te-img");
    refused("d/tr-lab", "[data] dir", "export i.ini --checkpoint runs/i/last.safetensors "
            "--format safetensors-torch -o d/tr-lab");
    cr_assert_eq(nntrain("predict i.ini --checkpoint runs/i/last.safetensors --output "
                         "d/new.csv"), 0, "%s", text_of("out.txt"));
}

Test(output_guard, a_run_directory_keeps_its_checkpoints_model_file_lock_and_logs)
{
    train_csv();
    refused("runs/m/best.safetensors", "an nntrain checkpoint",
            "export " CK "--format safetensors-torch -o runs/m/best.safetensors");
    refused("runs/m/model.ini", "the model.ini of the run directory",
            "export " CK "--format safetensors-torch -o runs/m/model.ini");
    refused("runs/m/.lock", "the .lock of the run directory", "predict " CK "--output runs/m/.lock");
    refused("runs/m/metrics.csv", "[logger.csv] path", "predict " CK "--output runs/m/metrics.csv");
    refused("runs/m/logs/second.csv", "[logger.c2] path",
            "predict " CK "--output runs/m/logs/second.csv");
    /* a checkpoint is one wherever it lies */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp %s %s", path_in("runs/m/last.safetensors"), path_in("keep.st"));
    cr_assert_eq(system(cmd), 0);
    refused("keep.st", "an nntrain checkpoint", "predict " CK "--output keep.st");
    /* fresh files in a run directory, and an export written again over its own output */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(nntrain("export " CK "--format safetensors-torch -o runs/m/w.safetensors"), 0,
                     "%s", text_of("out.txt"));
    cr_assert_eq(nntrain("predict " CK "--output runs/m/p.csv"), 0, "%s", text_of("out.txt"));
    cr_assert_eq(nntrain("predict " CK "--output runs/m/p.csv"), 0, "%s", text_of("out.txt"));
}

/* the files the command itself reads: its model file, the checkpoint, an --input file (one
 * check for all: the same message, nothing written) */
Test(output_guard, the_commands_own_inputs_are_refused)
{
    train_csv();
    cr_assert_eq(nntrain("predict " CK "--limit 2 --output fresh.csv"), 0, "%s",
                 text_of("out.txt"));
    refused("m.ini", "is a file this command reads (m.ini)", "predict " CK "--output m.ini");
    refused("m.ini", "is a file this command reads (m.ini)", "export " CK "-o m.ini");
    refused("runs/m/last.safetensors", "is a file this command reads (runs/m/last.safetensors)",
            "export " CK "-o runs/m/last.safetensors");
    write_csv_rows("in.csv", 4, 5, 0);
    refused("in.csv", "is a file this command reads (in.csv)",
            "predict " CK "--input in.csv --output in.csv");
    cr_assert_eq(symlink("in.csv", path_in("in-link.csv")), 0);
    refused("in.csv", "is a file this command reads (in.csv)",
            "predict " CK "--input in.csv --output in-link.csv");
}
