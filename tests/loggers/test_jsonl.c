/* test_jsonl.c: the jsonl logger: a fake 2-epoch run parsed back with Python's json module
 * (strict: NaN/Infinity rejected) and every record checked, and the `every` key. */
#include "fake_run.h"

Test(jsonl, every_record_of_a_run_reads_back_with_python_json)
{
    logger_under_test l;
    lut_create(&l, "jsonl", NULL, 0);
    lut_open(&l, 0, 0);
    fake_run(&l, NULL, NULL);
    lut_close(&l);
    char args[512];
    snprintf(args, sizeof args, "%s/metrics.jsonl", l.dir);
    cr_assert_eq(run_checker("jsonl", args), 0, "check_logs.py jsonl failed (see stderr)");
    rm_rf(l.dir);
}

Test(jsonl, every_key_and_path_key_are_obeyed)
{
    logger_under_test l;
    nn_kv kv[] = {{"every", "5", "test", 1}, {"path", "sub.jsonl", "test", 2}};
    lut_create(&l, "jsonl", kv, 2);
    lut_open(&l, 0, 0);
    fake_run(&l, NULL, NULL);
    lut_close(&l);
    char path[300];
    snprintf(path, sizeof path, "%s/sub.jsonl", l.dir);
    char *text = slurp(path, NULL);
    int steps = 0;
    for (const char *p = text; (p = strstr(p, "{\"kind\":\"step\"")); p++)
        steps++;
    cr_assert_eq(steps, 2, "every = 5 over 2 epochs of 5 steps: %d step records", steps);
    cr_assert(strstr(text, "\"step\":4,\"global_step\":5,"), "%s", text);
    free(text);
    rm_rf(l.dir);
}
