/* nntest_nosym.c: a shared object that exports a function but no nn_plugin_descriptors,
 * like a stray library dropped into a plugin directory. Test fixture only. */
#include <nntrain/plugin.h>

NN_EXPORT int nntest_not_a_plugin(int x);

int nntest_not_a_plugin(int x)
{
    return x + 1;
}
