/* test_html_report.c: the html_report logger: the file is rewritten atomically after each
 * epoch, holds a non-empty SVG path for every curve, a heat-map cell per confusion entry with
 * the class names, the escaped config, nothing that reaches the network; and headless
 * Chromium renders it to a PNG that is not blank. */
#include "fake_run.h"
#include <png.h>

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* d="..." of the series path labelled `label` in the chart titled `title` */
static int path_points(const char *t, const char *title, const char *label)
{
    char head[128];
    snprintf(head, sizeof head, "font-weight=\"bold\">%s</text>", title);
    const char *c = strstr(t, head);
    cr_assert_not_null(c, "no chart titled %s", title);
    const char *end = strstr(c, "</svg>");
    char key[128];
    snprintf(key, sizeof key, "<path class=\"series\" data-name=\"%s\"", label);
    const char *p = strstr(c, key);
    cr_assert(p && p < end, "chart %s has no series %s", title, label);
    const char *d = strstr(p, " d=\"") + 4;
    int points = 0;
    for (; *d != '"'; d++)
        points += *d == 'M' || *d == 'L';
    return points;
}

static void after_epoch(int e, void *ctx)
{
    const char *dir = ctx;
    char path[300];
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *t = slurp(path, NULL);
    char want[64];
    snprintf(want, sizeof want, "epochs done: %d of 2", e + 1);
    cr_assert(strstr(t, want), "after epoch %d the report says: %.300s", e, t);
    cr_assert(strstr(t, "</html>\n"), "the report is incomplete");
    /* a single epoch is one point: a path of one M, and a dot */
    cr_assert_eq(path_points(t, "loss", "validation"), e + 1);
    cr_assert_eq(count(t, "<rect class=\"cell\""), 9);
    free(t);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
    cr_assert_neq(system(cmd), 0, "a temporary file was left in %s", dir);
}

static char *run_report(logger_under_test *l)
{
    lut_create(l, "html_report", NULL, 0);
    lut_open(l, 0, 0);
    fake_run(l, after_epoch, l->dir);
    lut_close(l);
    char path[300];
    snprintf(path, sizeof path, "%s/report.html", l->dir);
    return slurp(path, NULL);
}

Test(html_report, holds_a_curve_per_metric_the_lr_the_heat_map_and_escaped_config)
{
    logger_under_test l;
    char *t = run_report(&l);
    cr_assert_eq(path_points(t, "loss", "train"), 2);
    cr_assert_eq(path_points(t, "loss", "validation"), 2);
    cr_assert_eq(path_points(t, "accuracy", "train"), 2);
    cr_assert_eq(path_points(t, "accuracy", "validation"), 2);
    cr_assert_eq(path_points(t, "learning rate", "learning rate"), 10); /* one per step */
    cr_assert_eq(count(t, "<rect class=\"cell\""), 9);
    cr_assert_eq(count(t, ">cat</text>"), 2, "class names on both axes");
    cr_assert(strstr(t, "&lt;bird&amp;&gt;"), "class name not escaped");
    cr_assert(strstr(t, "Confusion matrix (validation, epoch 2)"));
    /* epoch 2's matrix: diagonal 6 of a row of 8 */
    cr_assert(strstr(t, "cat &#8594; cat: 6</title>"));
    cr_assert(strstr(t, "name = &lt;b&gt;net&lt;/b&gt; &amp; co"), "config not escaped");
    cr_assert_null(strstr(t, "<b>net"));
    cr_assert(strstr(t, "hint: validation loss rose"));
    cr_assert(strstr(t, "status: <b>completed</b>"));
    cr_assert_null(strstr(t, "<script"));
    cr_assert_null(strstr(t, "href="));
    cr_assert_null(strstr(t, "src="));
    cr_assert_null(strstr(t, "url("));
    cr_assert_eq(count(t, "http"), count(t, "xmlns=\"http://www.w3.org/2000/svg\""),
                 "only SVG namespace names may mention http");
    free(t);
    rm_rf(l.dir);
}

/* share of pixels near colour (r,g,b), and of non-white pixels */
static void pixel_stats(const char *png, int rgb, double *near, double *nonwhite)
{
    png_image img = {.version = PNG_IMAGE_VERSION};
    cr_assert(png_image_begin_read_from_file(&img, png), "not a PNG: %s", img.message);
    img.format = PNG_FORMAT_RGB;
    size_t n = PNG_IMAGE_SIZE(img);
    unsigned char *px = malloc(n);
    cr_assert(png_image_finish_read(&img, NULL, px, 0, NULL), "%s", img.message);
    size_t total = (size_t)img.width * img.height, hit = 0, ink = 0;
    int r = rgb >> 16, g = (rgb >> 8) & 255, b = rgb & 255;
    for (size_t i = 0; i < total; i++) {
        const unsigned char *p = px + 3 * i;
        hit += abs(p[0] - r) < 40 && abs(p[1] - g) < 40 && abs(p[2] - b) < 40;
        ink += p[0] < 240 || p[1] < 240 || p[2] < 240;
    }
    *near = (double)hit / (double)total;
    *nonwhite = (double)ink / (double)total;
    free(px);
}

Test(html_report, headless_chromium_renders_it_to_a_png_that_is_not_blank, .timeout = 120)
{
    const char *browser = access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
    if (!browser)
        cr_skip_test("chromium is not installed (scripts/install-deps.sh installs it)");
    logger_under_test l;
    free(run_report(&l));
    char cmd[2400], png[300];
    snprintf(png, sizeof png, "%s/shot.png", l.dir);
    snprintf(cmd, sizeof cmd,
             "timeout 90 %s --headless --no-sandbox --disable-gpu --hide-scrollbars "
             "--user-data-dir=%s/chrome --window-size=1200,1600 --screenshot=%s "
             "file://%s/report.html >%s/chrome.log 2>&1",
             browser, l.dir, png, l.dir, l.dir);
    int rc = system(cmd);
    cr_assert(access(png, R_OK) == 0, "no screenshot (chromium exit %d); see %s/chrome.log", rc,
              l.dir);
    double blue, ink, orange, dummy;
    pixel_stats(png, 0x1f77b4, &blue, &ink);
    pixel_stats(png, 0xff7f0e, &orange, &dummy);
    cr_assert_gt(ink, 0.02, "the page rendered blank (%.4f non-white)", ink);
    cr_assert_gt(blue, 0.0002, "no train curve pixels (%.5f)", blue);
    cr_assert_gt(orange, 0.0002, "no validation curve pixels (%.5f)", orange);
    rm_rf(l.dir);
}
