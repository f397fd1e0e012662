/* nntest_gone.c: a tiny library that nntest_needlib links against and that is never
 * installed anywhere the loader looks, so loading nntest_needlib must fail in dlopen. */
int nntest_gone_value(void);

int nntest_gone_value(void)
{
    return 42;
}
