/* test_nonregular.c: a property of every data plugin: each path it reads as a file (training
 * and test files, a class folder's entries, a saved vocabulary, synonym lists, predict --input)
 * given a FIFO, a directory or a character device fails at once, naming the path and what it
 * is (a class folder's entry is skipped as unreadable: with max_skipped = 0 that fails).
 * Each open runs in a child process that gets 10 s, so a hang fails the case by name instead
 * of stalling the suite. Test-only. */
#include <errno.h>
#include <png.h>
#include <poll.h>
#include <signal.h>
#include <sndfile.h>
#include <sys/wait.h>

#include "fixtures.h"

enum { K_FIFO, K_DIR, K_CHR, K_COUNT };
static const char *const kind_word[K_COUNT] = {"is a FIFO", "is a directory",
                                               "is a character device"};

/* One path a plugin reads. keys are "key=value" with '@' standing for the object's path;
 * dir_says: what a directory there gives instead of "is a directory" (NULL: the usual
 * message; "-": a directory is valid there, not a case). */
typedef struct nr_case {
    const char *plugin;
    int kind; /* NN_KIND_DATASET or NN_KIND_TRANSFORM */
    const char *obj; /* relative to the test directory */
    const char *keys[4];
    nn_split split;
    int input;       /* the object is the predict --input */
    const char *state; /* state_dir (the text vocabulary), relative */
    const char *dir_says;
    int fit; /* 1: the split builds its artefacts (into state) */
} nr_case;

static void write_png(const char *rel)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = 2;
    im.height = 2;
    im.format = PNG_FORMAT_GRAY;
    const uint8_t px[4] = {1, 2, 3, 4};
    cr_assert(png_image_write_to_file(&im, fx_path(rel), 0, px, 0, NULL), "%s", im.message);
}

static void write_wav(const char *rel)
{
    SF_INFO si = {.samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(fx_path(rel), SFM_WRITE, &si);
    cr_assert_not_null(f, "%s", sf_strerror(NULL));
    const float x[4] = {0, 0.5f, -0.5f, 0};
    cr_assert_eq(sf_writef_float(f, x, 4), 4);
    sf_close(f);
}

/* valid files of every plugin, so that only the object under test is wrong */
static void fixtures(void)
{
    fx_tmpdir();
    fx_write("img.idx", (uint8_t[]){0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4},
             20);
    fx_write("lab.idx", (uint8_t[]){0, 0, 8, 1, 0, 0, 0, 2, 0, 1}, 10);
    uint8_t rec[3073] = {1};
    fx_write("b.bin", rec, sizeof rec);
    fx_write_text("d.csv", "a,b,label\n1,2,x\n3,4,y\n");
    fx_write_text("t.txt", "pos\tgood film\nneg\tbad film\n");
    fx_mkdir("st");
    fx_write_text("voc.txt", "<pad>\n<unk>\ngood\nfine\n");
    fx_write_text("syn.txt", "good,fine\n");
    fx_mkdir("imgs");
    fx_mkdir("imgs/cat");
    write_png("imgs/cat/a.png");
    fx_mkdir("wavs");
    fx_mkdir("wavs/cat");
    write_wav("wavs/cat/a.wav");
}

static void make_obj(const char *rel, int kind)
{
    const char *p = fx_path(rel);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    cr_assert_eq(system(cmd), 0);
    if (kind == K_FIFO)
        cr_assert_eq(mkfifo(p, 0600), 0, "mkfifo %s: %s", p, strerror(errno));
    else if (kind == K_DIR)
        cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s", p);
    else /* /dev/zero: a reader that does not refuse it never reaches the end */
        cr_assert_eq(symlink("/dev/zero", p), 0, "symlink %s", p);
}

/* Creates the plugin and opens the case's split; returns the status, the message in err. */
static int run_case(nn_registry *reg, const nr_case *c, nn_error *err)
{
    nn_kv kv[4];
    char vals[4][600];
    int n = 0;
    for (; n < 4 && c->keys[n]; n++) {
        const char *eq = strchr(c->keys[n], '=');
        static char names[4][64];
        snprintf(names[n], sizeof names[n], "%.*s", (int)(eq - c->keys[n]), c->keys[n]);
        /* a transform's paths are absolute (they resolve next to the model file) */
        snprintf(vals[n], sizeof vals[n], "%s", !strcmp(eq + 1, "@") ?
                 (c->kind == NN_KIND_TRANSFORM ? fx_path(c->obj) : c->obj) : eq + 1);
        if (c->kind == NN_KIND_TRANSFORM && strcmp(eq + 1, "@"))
            snprintf(vals[n], sizeof vals[n], "%s", fx_path(eq + 1));
        kv[n] = (nn_kv){names[n], vals[n], "nonregular.ini", n + 1};
    }
    const nn_plugin_entry *e = nn_registry_find(reg, c->kind, c->plugin, NULL, err);
    if (!e)
        return NN_ENOTFOUND;
    nn_instance inst;
    int rc = nn_instance_create(&inst, e->desc, kv, n, "[case]", err);
    if (rc || c->kind == NN_KIND_TRANSFORM)
        return rc;
    const char *in[1] = {fx_path(c->obj)};
    nn_dataset_open o = {.struct_size = sizeof o, .split = c->split, .base_dir = fx_dir,
                         .state_dir = c->state ? fx_path(c->state) : NULL,
                         .fit = c->fit || (c->split == NN_SPLIT_TRAIN && !c->state),
                         .inputs = c->input ? in : NULL, .n_inputs = c->input};
    nn_dataset_info info;
    memset(&info, 0, sizeof info);
    return ((const nn_dataset_vtable *)inst.vt)->open(inst.self, &o, &info, err);
}

/* Runs the case in a child with a 10 s limit; asserts a prompt failure naming obj and want. */
static void expect_refusal(nn_registry *reg, const nr_case *c, const char *kind,
                           const char *want)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        nn_error err = {0};
        int rc = run_case(reg, c, &err);
        char out[sizeof err.msg + 16];
        int len = snprintf(out, sizeof out, "%d %s", rc, err.msg);
        if (write(fds[1], out, (size_t)len) != len)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    struct pollfd pf = {.fd = fds[0], .events = POLLIN};
    int ready = poll(&pf, 1, 10000);
    if (ready <= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(fds[0]);
        cr_assert_fail("%s reading %s as %s: no answer within 10 s (it hangs)", c->plugin,
                       c->obj, kind);
    }
    char buf[700] = "";
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(got > 0 && WIFEXITED(status), "%s reading %s as %s: the child died (status %d)",
              c->plugin, c->obj, kind, status);
    buf[got] = 0;
    int rc = atoi(buf);
    const char *msg = strchr(buf, ' ') ? strchr(buf, ' ') + 1 : "";
    cr_assert_lt(rc, 0, "%s accepted %s as %s", c->plugin, c->obj, kind);
    cr_assert(strstr(msg, c->obj), "%s, %s as %s: the message does not name the path: %s",
              c->plugin, c->obj, kind, msg);
    cr_assert(strstr(msg, want), "%s, %s as %s: the message lacks '%s': %s", c->plugin, c->obj,
              kind, want, msg);
}

static void check_cases(const nr_case *cases, int n)
{
    fixtures();
    nn_registry *reg = fx_registry();
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K_COUNT; k++) {
            const nr_case *c = &cases[i];
            const char *want = kind_word[k];
            if (k == K_DIR && c->dir_says && !strcmp(c->dir_says, "-"))
                continue;
            if (k == K_DIR && c->dir_says)
                want = c->dir_says;
            make_obj(c->obj, k);
            static const char *const kinds[K_COUNT] = {"a FIFO", "a directory",
                                                       "a character device"};
            expect_refusal(reg, c, kinds[k], want);
        }
    nn_registry_free(reg);
}

#define DS NN_KIND_DATASET

Test(nonregular, idx_images_labels_test_files_and_inputs, .timeout = 120)
{
    const nr_case c[] = {
        {"idx", DS, "bad.idx", {"dir=.", "train_images=@", "train_labels=lab.idx", "preset=none"},
         NN_SPLIT_TRAIN, 0, NULL, NULL, 0},
        {"idx", DS, "bad.idx", {"dir=.", "train_images=img.idx", "train_labels=@", "preset=none"},
         NN_SPLIT_TRAIN, 0, NULL, NULL, 0},
        {"idx", DS, "bad.idx", {"dir=.", "test_images=@", "test_labels=lab.idx", "preset=none"},
         NN_SPLIT_TEST, 0, NULL, NULL, 0},
        {"idx", DS, "bad.idx",
         {"dir=.", "train_images=img.idx", "train_labels=lab.idx", "preset=none"},
         NN_SPLIT_PREDICT, 1, NULL, NULL, 0},
    };
    check_cases(c, 4);
}

Test(nonregular, cifar_batch_files_and_inputs, .timeout = 120)
{
    const nr_case c[] = {
        {"cifar", DS, "bad.bin", {"dir=.", "train_files=@"}, NN_SPLIT_TRAIN, 0, NULL, NULL, 0},
        {"cifar", DS, "bad.bin", {"dir=.", "test_files=@"}, NN_SPLIT_TEST, 0, NULL, NULL, 0},
        {"cifar", DS, "bad.bin", {"dir=.", "train_files=b.bin"}, NN_SPLIT_PREDICT, 1, NULL,
         NULL, 0},
    };
    check_cases(c, 3);
}

Test(nonregular, csv_training_test_and_input_files, .timeout = 120)
{
    const nr_case c[] = {
        {"csv", DS, "bad.csv", {"path=@"}, NN_SPLIT_TRAIN, 0, NULL, NULL, 0},
        {"csv", DS, "bad.csv", {"path=d.csv", "test_path=@"}, NN_SPLIT_TEST, 0, NULL, NULL, 0},
        {"csv", DS, "bad.csv", {"path=d.csv"}, NN_SPLIT_PREDICT, 1, NULL, NULL, 0},
    };
    check_cases(c, 3);
}

Test(nonregular, text_training_test_vocabulary_and_input_files, .timeout = 120)
{
    const nr_case c[] = {
        {"text", DS, "bad.txt", {"path=@"}, NN_SPLIT_TRAIN, 0, NULL, NULL, 0},
        {"text", DS, "bad.txt", {"path=t.txt", "test_path=@"}, NN_SPLIT_TEST, 0, NULL, NULL, 0},
        {"text", DS, "st/vocab.txt", {"path=t.txt"}, NN_SPLIT_TRAIN, 0, "st", NULL, 0},
        {"text", DS, "bad.txt", {"path=t.txt"}, NN_SPLIT_PREDICT, 1, NULL, NULL, 0},
    };
    check_cases(c, 4);
}

Test(nonregular, image_folder_roots_entries_and_inputs, .timeout = 120)
{
    const nr_case c[] = {
        {"image_folder", DS, "root", {"dir=@"}, NN_SPLIT_TRAIN, 0, NULL,
         "no class sub-directories", 0},
        {"image_folder", DS, "imgs/cat/bad.png", {"dir=imgs", "max_skipped=0"},
         NN_SPLIT_TRAIN, 0, NULL, "-", 0},
        {"image_folder", DS, "troot", {"dir=imgs", "test_dir=@"}, NN_SPLIT_TEST, 0, NULL,
         "no class sub-directories", 0},
        {"image_folder", DS, "bad.png", {"dir=imgs"}, NN_SPLIT_PREDICT, 1, NULL,
         "has no .png or .jpg files", 0},
    };
    check_cases(c, 4);
}

Test(nonregular, audio_folder_roots_entries_and_inputs, .timeout = 120)
{
    const nr_case c[] = {
        {"audio_folder", DS, "root", {"dir=@"}, NN_SPLIT_TRAIN, 0, NULL,
         "no class sub-directories", 0},
        {"audio_folder", DS, "wavs/cat/bad.wav", {"dir=wavs", "max_skipped=0"},
         NN_SPLIT_TRAIN, 0, NULL, "-", 0},
        {"audio_folder", DS, "troot", {"dir=wavs", "test_dir=@"}, NN_SPLIT_TEST, 0, NULL,
         "no class sub-directories", 0},
        {"audio_folder", DS, "bad.wav", {"dir=wavs"}, NN_SPLIT_PREDICT, 1, NULL,
         "has no .wav or .flac files", 0},
    };
    check_cases(c, 4);
}

Test(nonregular, synonym_replacement_vocabulary_and_synonyms, .timeout = 120)
{
    const nr_case c[] = {
        {"synonym_replacement", NN_KIND_TRANSFORM, "bad.txt", {"vocab=@", "synonyms=syn.txt"},
         NN_SPLIT_TRAIN, 0, NULL, NULL, 0},
        {"synonym_replacement", NN_KIND_TRANSFORM, "bad.txt", {"vocab=voc.txt", "synonyms=@"},
         NN_SPLIT_TRAIN, 0, NULL, NULL, 0},
    };
    check_cases(c, 2);
}

/* The same through the real binary: `nntrain predict --input FIFO` of a trained model ends at
 * once with exit status 1 (a shell timeout of 20 s would give 124). */
Test(nonregular, predict_cli_refuses_a_fifo_input_at_once, .timeout = 120)
{
    fx_tmpdir();
    const char *exe = getenv("NNTRAIN_EXE");
    cr_assert_not_null(exe);
    char csv[2048] = "a,b,label\n";
    for (int i = 0; i < 40; i++)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d,%d,c%d\n", i, 40 - i, i % 2);
    fx_write_text("d.csv", csv);
    char ini[600];
    snprintf(ini, sizeof ini,
             "[train]\nepochs = 1\nbatch_size = 8\nrun_dir = %s/runs\n"
             "[data]\ntype = csv\npath = d.csv\n[loss]\ntype = cross_entropy\n"
             "[optimizer]\ntype = sgd\nlr = 0.01\n[layer.fc]\ntype = dense\nunits = 2\n", fx_dir);
    fx_write_text("m.ini", ini);
    cr_assert_eq(mkfifo(fx_path("in.csv"), 0600), 0);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cd '%s' && NNTRAIN_PLUGIN_PATH='%s' '%s' train m.ini --no-test "
             ">train.txt 2>&1", fx_dir, fx_plugin_path(), exe);
    cr_assert_eq(system(cmd), 0, "training failed: see %s", fx_path("train.txt"));
    snprintf(cmd, sizeof cmd, "cd '%s' && NNTRAIN_PLUGIN_PATH='%s' timeout 20 '%s' predict m.ini "
             "--checkpoint runs/m/last.safetensors --input in.csv >out.txt 2>&1", fx_dir,
             fx_plugin_path(), exe);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "predict exited with status %d",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char out[2048] = "";
    FILE *f = fopen(fx_path("out.txt"), "r");
    cr_assert_not_null(f);
    out[fread(out, 1, sizeof out - 1, f)] = 0;
    fclose(f);
    cr_assert(strstr(out, "in.csv") && strstr(out, "is a FIFO"), "%s", out);
}

/* What text writes (the vocabulary, through vocab.txt.tmp) refuses a FIFO, a directory or a
 * link in the temporary file's place at once, instead of waiting for a reader or writing
 * through the link. */
Test(nonregular, text_writes_its_vocabulary_to_a_regular_file_only, .timeout = 60)
{
    fixtures();
    nn_registry *reg = fx_registry();
    const nr_case c = {"text", DS, "st/vocab.txt.tmp", {"path=t.txt"}, NN_SPLIT_TRAIN, 0, "st",
                       NULL, 1};
    const char *want[K_COUNT] = {"is a FIFO", "is a directory", "is a symbolic link"};
    static const char *const kinds[K_COUNT] = {"a FIFO", "a directory", "a link to /dev/zero"};
    for (int k = 0; k < K_COUNT; k++) {
        make_obj(c.obj, k);
        expect_refusal(reg, &c, kinds[k], want[k]);
    }
    nn_registry_free(reg);
}
