/* test_csv.c: the csv logger: a fake 2-epoch run parsed back with Python's csv module (an
 * independent parser) and every cell checked, including the header widened when validation
 * metrics first appear after a mid-epoch flush, and the `every` key. */
#include "fake_run.h"

static void run_csv(const char *every, const char *expect_every)
{
    logger_under_test l;
    nn_kv kv[] = {{"every", every, "test", 1}};
    lut_create(&l, "csv", kv, every ? 1 : 0);
    lut_open(&l, 0, 0);
    fake_run(&l, NULL, NULL);
    lut_close(&l);
    char args[512];
    snprintf(args, sizeof args, "%s/metrics.csv %s", l.dir, expect_every);
    cr_assert_eq(run_checker("csv", args), 0, "check_logs.py csv failed (see stderr)");
    rm_rf(l.dir);
}

Test(csv, every_step_and_epoch_row_reads_back_with_python_csv)
{
    run_csv(NULL, "1");
}

Test(csv, every_key_keeps_every_nth_step_row)
{
    run_csv("2", "2");
}

Test(csv, file_is_one_rectangle_after_the_header_widens)
{
    /* flushed mid-epoch 0: header without val_*; after epoch 0 the file is rewritten */
    logger_under_test l;
    lut_create(&l, "csv", NULL, 0);
    lut_open(&l, 0, 0);
    fake_run(&l, NULL, NULL);
    lut_close(&l);
    char path[300];
    snprintf(path, sizeof path, "%s/metrics.csv", l.dir);
    char *text = slurp(path, NULL);
    cr_assert(strncmp(text, "kind,epoch,step,global_step,elapsed_s,lr,grad_norm,samples_per_s,"
                            "loss,accuracy,val_loss,val_accuracy\n", 100) == 0,
              "header: %.120s", text);
    /* the first step row was written before val_* existed and now ends with two empty cells */
    cr_assert(strstr(text, "\nstep,0,0,1,0.5,0.1,0.25,101,1,0.05,,\n"),
              "first step row not padded: %s", text);
    free(text);
    rm_rf(l.dir);
}
